from bot.config import apply_offline_env  # noqa: F401  (telemetry off before gradio is imported)
from bot.ui import launch

if __name__ == "__main__":
    launch()
