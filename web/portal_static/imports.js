// The upload page: poll the batch's progress until it finishes. textContent only: no HTML from data.
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box) return;
  var url = box.getAttribute("data-progress-url");
  function field(name) { return box.querySelector('[data-field="' + name + '"]'); }
  function show(data) {
    ["status_label", "total", "processed", "created", "updated", "rejected"].forEach(function (k) {
      var el = field(k); if (el) el.textContent = data[k];
    });
    field("message").textContent = data.message || "";
    var bar = field("bar"); bar.max = data.total || 1; bar.value = data.processed + (data.is_finished ? data.rejected : 0);
    var list = field("errors"); list.textContent = "";
    (data.errors || []).forEach(function (e) {
      var li = document.createElement("li");
      li.textContent = "第" + e.row + "行 " + e.column + (e.value ? ' "' + e.value + '"' : "") + " " + e.reason;
      list.appendChild(li);
    });
    return data.is_finished;
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) { if (!show(data)) setTimeout(poll, 1000); })
      .catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
