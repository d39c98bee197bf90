"""The baseline for start-up ratios: a bare Gradio Blocks page, launched the way app.py launches (same env)."""
import os

from bot.config import apply_offline_env

apply_offline_env()

import gradio as gr  # noqa: E402

with gr.Blocks(title="bare") as demo:
    gr.Markdown("# bare Gradio page")
    gr.Textbox(label="text")

demo.launch(server_name="127.0.0.1", server_port=int(os.environ["BOT_PORT"]), share=False)
