// The support workspace's ticket page: keyboard shortcuts and the reply box after htmx sent it.
// r reply · n note · a take · s solve (not while typing)
document.addEventListener("keydown", function (event) {
  if (event.ctrlKey || event.metaKey || event.altKey || /INPUT|TEXTAREA|SELECT/.test(event.target.tagName)) return;
  const body = document.getElementById("reply-body");
  if ((event.key === "r" || event.key === "n") && body) {
    event.preventDefault(); body.focus(); body.dataset.mode = event.key === "n" ? "note" : "reply";
    body.closest("form").classList.toggle("noting", event.key === "n");
  } else {
    const button = document.querySelector('[data-key="' + event.key + '"]:not([data-key="r"]):not([data-key="n"])');
    if (button) { event.preventDefault(); button.click(); }
  }
});

// A reply or note that went through empties the box (htmx swapped the conversation above it).
document.addEventListener("htmx:afterRequest", function (event) {
  const form = event.target.closest && event.target.closest("form.reply-box");
  if (!form || !event.detail.successful) return;
  form.querySelector("textarea").value = "";
  form.classList.remove("noting");
});
