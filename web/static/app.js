// Progressive enhancement only: every page works without this file. No inline handlers (CSP).
(function () {
  "use strict";
  var meta = document.querySelector('input[name="csrf_token"]');
  var csrf = meta ? meta.value : "";

  // The chosen outcome in full under the reply form's list: a closed <select> shows only as much of a long
  // official label as its width allows, and never its group (（三）不予公开 …).
  function showOutcome(select) {
    var line = select.closest("form").querySelector("[data-outcome-full]");
    var option = select.options[select.selectedIndex];
    if (!line) return;
    var group = option && option.parentNode.tagName === "OPTGROUP" ? option.parentNode.label : "";
    line.textContent = option && option.value ? (group && group !== option.text ? group + " · " : "") + option.text : "";
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches('select[name="outcome"]')) showOutcome(event.target);
  });

  // Reveal the citizen's contact details (audited on the server).
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

  // Canned replies fill the reply text (and the suggested outcome).
  document.addEventListener("change", function (event) {
    var select = event.target.closest("[data-canned]");
    if (!select) return;
    var option = select.options[select.selectedIndex];
    var form = select.closest("form");
    if (!option || !option.value) return;
    form.querySelector('textarea[name="reply_text"]').value = option.getAttribute("data-body") || "";
    var outcome = option.getAttribute("data-outcome");
    var outcomeSelect = form.querySelector('select[name="outcome"]');
    if (outcome && outcomeSelect) {
      outcomeSelect.value = outcome;
      showOutcome(outcomeSelect);
    }
  });

  // The check before a public reply leaves, while the reply is written: the server lists its findings
  // (tracker/workorders/reply_check.py) and the "仍然发送" box appears when there are some. The door checks
  // again when the form is sent, so this is only early warning.
  var replyCheckTimer = null;
  function runReplyCheck(textarea) {
    var form = textarea.closest("form");
    var box = form && form.querySelector("[data-reply-check]");
    if (!box) return;
    var body = new FormData();
    body.append("reply_text", textarea.value);
    fetch(box.getAttribute("data-reply-check"), { method: "POST", body: body, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        box.textContent = "";
        var confirm = form.querySelector("[data-reply-confirm]");
        if (data.findings.length) {
          var list = document.createElement("ul");
          list.className = "flash warn";
          data.findings.forEach(function (finding) {
            var item = document.createElement("li");
            item.textContent = finding.message;  // textContent: the citizen's words never become HTML
            item.setAttribute("data-finding", finding.code);
            list.appendChild(item);
          });
          box.appendChild(list);
        }
        if (confirm) confirm.hidden = !data.findings.length || data.blocking;
      })
      .catch(function () { box.textContent = ""; });
  }
  document.addEventListener("input", function (event) {
    if (!event.target.matches('textarea[name="reply_text"]')) return;
    var textarea = event.target;
    clearTimeout(replyCheckTimer);
    replyCheckTimer = setTimeout(function () { runReplyCheck(textarea); }, 600);
  });

  // Select all rows for bulk actions.
  document.addEventListener("change", function (event) {
    if (!event.target.matches("[data-check-all]")) return;
    document.querySelectorAll('input[name="ticket_ids"]').forEach(function (box) { box.checked = event.target.checked; });
  });

  // Help overlay.
  var overlay = document.getElementById("help-overlay");
  function toggleHelp(show) {
    if (!overlay) return;
    overlay.hidden = show === undefined ? !overlay.hidden : !show;
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-open-help]")) toggleHelp(true);
    else if (event.target.closest("[data-close-help]") || event.target === overlay) toggleHelp(false);
  });

  // Keyboard shortcuts (documented in the help overlay, "?").
  var rows = Array.prototype.slice.call(document.querySelectorAll("#queue-table tbody tr[data-href]"));
  var current = -1;
  function select(index) {
    if (!rows.length) return;
    if (current >= 0) rows[current].classList.remove("selected");
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows[current].classList.add("selected");
    rows[current].scrollIntoView({ block: "nearest" });
  }
  function openAction(name) {
    var details = document.querySelector('details[data-action="' + name + '"]');
    if (!details) return false;
    details.open = true;
    var field = details.querySelector("textarea, select, input:not([type=hidden])") || details.querySelector("button");
    if (field) field.focus();
    return true;
  }
  var pendingG = false;
  var goTargets = { h: "/", m: "/queues/mine", d: "/queues/department", o: "/queues/overdue", a: "/queues/approvals" };
  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    var key = event.key;
    if (pendingG) {
      pendingG = false;
      if (goTargets[key]) { window.location.href = goTargets[key]; event.preventDefault(); }
      return;
    }
    if (key === "?") { toggleHelp(); event.preventDefault(); return; }
    if (key === "Escape") { toggleHelp(false); return; }
    if (key === "/") { var s = document.getElementById("global-search"); if (s) { s.focus(); event.preventDefault(); } return; }
    if (key === "g") { pendingG = true; return; }
    if (rows.length) {
      if (key === "j") { select(current + 1); event.preventDefault(); return; }
      if (key === "k") { select(current - 1); event.preventDefault(); return; }
      if ((key === "Enter" || key === "o") && current >= 0) { window.location.href = rows[current].getAttribute("data-href"); return; }
      if (key === "x" && current >= 0) { var box = rows[current].querySelector('input[name="ticket_ids"]'); if (box) box.checked = !box.checked; return; }
    }
    if (key === "n") { var next = document.querySelector("[data-next-page]"); if (next) window.location.href = next.href; return; }
    if (document.querySelector("[data-ticket-page]")) {
      var map = { r: "reply", a: "assign", t: "transfer", e: "extend", c: "close", i: "note" };
      if (map[key] && openAction(map[key])) { event.preventDefault(); return; }
      if (key === "u") { var back = document.querySelector("[data-back]"); if (back) window.location.href = back.href; }
    }
  });
})();
