() => {
  // Clicking [n] (in the chat or on a citation card) highlights and scrolls to its span.
  // A marker can be clicked while the answer is still streaming, before the source panel
  // holds its span: the request waits until the panel is re-rendered.
  let pending = null;
  const activate = (key) => {
    const marks = document.querySelectorAll(".source-panel mark.c-" + key);
    if (!marks.length) return false;
    document.querySelectorAll(".source-panel .active").forEach((el) => el.classList.remove("active"));
    marks.forEach((el) => el.classList.add("active"));
    document.querySelectorAll(".source-panel .card-" + key).forEach((el) => el.classList.add("active"));
    marks[0].scrollIntoView({ behavior: "smooth", block: "center" });
    return true;
  };
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a.cite-ref");
    if (!link) return;
    const match = /^#cite-(\d+-\d+)$/.exec(link.getAttribute("href") || "");
    if (!match) return;
    // Gradio is a single page: a real hash change would only fight its router.
    event.preventDefault();
    event.stopPropagation();
    pending = activate(match[1]) ? null : match[1];
  }, true);
  new MutationObserver(() => {
    if (pending && activate(pending)) pending = null;
  }).observe(document.body, { childList: true, subtree: true });
}
