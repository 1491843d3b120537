// Render the maths that pymdownx.arithmatex (generic mode) leaves as \( \) and \[ \], with the
// KaTeX vendored next to this file; material's document$ re-runs it after instant navigation.
function renderMath(body) {
  renderMathInElement(body, {
    delimiters: [
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    throwOnError: false,
  });
}
if (typeof document$ !== "undefined") {
  document$.subscribe(({ body }) => renderMath(body));
} else {
  document.addEventListener("DOMContentLoaded", () => renderMath(document.body));
}
