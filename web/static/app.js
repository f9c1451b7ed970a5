// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  var meta = document.querySelector('input[name="csrf_token"]');
  var csrf = meta ? meta.value : "";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-reveal]");
    if (!button) return;
    fetch(button.getAttribute("data-reveal"), { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        var card = button.closest("section");
        Object.keys(data).forEach(function (key) {
          var cell = card.querySelector('[data-field="' + key + '"]');
          if (cell) cell.textContent = data[key] || "—";  // textContent: citizen data never becomes HTML
        });
        button.remove();
      })
      .catch(function () { button.textContent = "无法显示"; });
  });
})();
