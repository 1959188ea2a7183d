() => {
  // Clicking [n] (in the chat or on a citation card) highlights and scrolls to its span.
  // A marker can be clicked while the answer is still streaming, before the source panel
  // holds its span, and every streamed update re-renders the panel: the chosen span is
  // highlighted again whenever the panel is rebuilt without it, until another [n] is clicked.
  let wanted = null;
  const marksOf = (key) => document.querySelectorAll(".source-panel mark.c-" + key);
  const activate = (key) => {
    const marks = marksOf(key);
    if (!marks.length) return;
    document.querySelectorAll(".source-panel .active").forEach((el) => el.classList.remove("active"));
    marks.forEach((el) => el.classList.add("active"));
    document.querySelectorAll(".source-panel .card-" + key).forEach((el) => el.classList.add("active"));
    marks[0].scrollIntoView({ behavior: "smooth", block: "center" });
  };
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a.cite-ref");
    if (!link) return;
    const match = /^#cite-(\d+-\d+)$/.exec(link.getAttribute("href") || "");
    if (!match) return;
    // Gradio is a single page: a real hash change would only fight its router.
    event.preventDefault();
    event.stopPropagation();
    wanted = match[1];
    activate(wanted);
  }, true);
  // Only added and removed nodes wake it (not the class changes activate makes itself).
  new MutationObserver(() => {
    if (!wanted) return;
    const marks = marksOf(wanted);
    if (marks.length && !marks[0].classList.contains("active")) activate(wanted);
  }).observe(document.body, { childList: true, subtree: true });
}
