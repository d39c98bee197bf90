() => {
  // Runs once when the page loads (Blocks.launch(js=...)). Browser-only conveniences; nothing leaves the page.
  const DRAFT = "mlops-coach-draft";
  const THEME = "mlops-coach-theme";
  const answerBox = () => document.querySelector("#answer textarea");
  const lastQuestion = () => {
    const bots = document.querySelectorAll("#chat [data-testid='bot']");
    return bots.length ? bots[bots.length - 1].innerText.trim().slice(0, 400) : "";
  };

  // Enter sends, Shift+Enter adds a line, as in every chat app (Gradio's multi-line box does the reverse, on
  // keypress). Capture phase on the window, the first listener of all, so Gradio's handler never sees them.
  const inAnswer = (event) => event.key === "Enter" && !event.isComposing && event.target.closest &&
    event.target.closest("#answer");
  window.addEventListener("keydown", (event) => {
    if (!inAnswer(event) || event.shiftKey) return;
    event.preventDefault();  // no new line, and no keypress for Gradio to act on
    event.stopPropagation();
    const submit = document.querySelector("#submit");
    if (submit && !submit.disabled) submit.click();
  }, true);
  window.addEventListener("keypress", (event) => {
    if (inAnswer(event)) event.stopPropagation();  // Shift+Enter: the browser adds the line, Gradio does not send
  }, true);

  // A draft survives a refresh: kept per question in this browser, restored into an empty box.
  document.addEventListener("input", (event) => {
    if (event.target === answerBox()) {
      localStorage.setItem(DRAFT, JSON.stringify({question: lastQuestion(), text: event.target.value}));
    }
  }, true);
  let restoring = 0;
  const restore = setInterval(() => {
    const box = answerBox();
    if (++restoring > 120) return clearInterval(restore);
    if (!box || box.disabled || box.readOnly) return;
    clearInterval(restore);
    let draft = null;
    try { draft = JSON.parse(localStorage.getItem(DRAFT) || "null"); } catch (e) { draft = null; }
    if (draft && draft.text && !box.value && draft.question === lastQuestion()) {
      box.value = draft.text;
      box.dispatchEvent(new Event("input", {bubbles: true}));
    }
  }, 250);

  // The newest question is revealed as if typed: the server sends it in one frame (cheap for a shared server) and
  // the page animates it. Only a bot message that was not there before is animated.
  let bots = 0;
  const reveal = () => {
    const all = document.querySelectorAll("#chat [data-testid='bot']");
    if (all.length > bots && bots > 0) all[all.length - 1].classList.add("coach-reveal");
    bots = all.length;
  };
  const watchChat = setInterval(() => {
    const chat = document.querySelector("#chat");
    if (!chat) return;
    clearInterval(watchChat);
    bots = chat.querySelectorAll("[data-testid='bot']").length;
    new MutationObserver(reveal).observe(chat, {childList: true, subtree: true});
  }, 200);

  // Dark mode: a toggle in the header, remembered in this browser.
  const apply = (mode) => document.body.classList.toggle("dark", mode === "dark");
  const saved = localStorage.getItem(THEME);
  if (saved) apply(saved);
  window.coachToggleTheme = () => {
    const mode = document.body.classList.contains("dark") ? "light" : "dark";
    localStorage.setItem(THEME, mode);
    apply(mode);
  };
}
