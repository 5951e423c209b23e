// The Cards pages (admin/cards.py): when htmx posts an approve or reject form and the console refuses it (400, 409),
// the answer is the application's fragment with the reason; show it in place instead of dropping it. A file, not
// inline script: the console's Content-Security-Policy forbids inline script.
document.addEventListener("htmx:beforeSwap", function (event) {
  var status = event.detail.xhr.status;
  var target = event.detail.target;
  if (status >= 400 && status < 500 && target && target.hasAttribute("data-swap-errors")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
