// mailfront: keyboard shortcuts and "select all" ticking. Every page works
// without this file. Shortcuts act by following the page's own links and
// pressing its own form buttons, so each change carries the form's CSRF and
// one-time tokens like a click does. No key fires while typing in a field.
"use strict";

(function () {
  var listForm = document.querySelector("form.list-actions");
  var messageForm = document.querySelector("form.message-actions");
  var rows = Array.prototype.slice.call(
    document.querySelectorAll("table.messages tbody tr")
  );
  var current = -1;

  function isTyping(target) {
    if (!target || !target.tagName) {
      return false;
    }
    var tag = target.tagName.toLowerCase();
    if (tag === "textarea" || tag === "select" || target.isContentEditable) {
      return true;
    }
    if (tag !== "input") {
      return false;
    }
    var type = (target.getAttribute("type") || "text").toLowerCase();
    return ["checkbox", "radio", "button", "submit", "reset"].indexOf(type) < 0;
  }

  function rowLink(row) {
    return row.querySelector("td.subject a");
  }

  function focusRow(index) {
    if (rows.length === 0) {
      return;
    }
    index = Math.max(0, Math.min(rows.length - 1, index));
    if (current >= 0 && rows[current]) {
      rows[current].classList.remove("kb-current");
    }
    current = index;
    rows[current].classList.add("kb-current");
    var link = rowLink(rows[current]);
    if (link) {
      link.focus();
    }
  }

  // The row whose link has the focus wins over the remembered one, so
  // Tab and the shortcuts agree.
  function currentRow() {
    var focused = document.activeElement;
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].contains(focused)) {
        return rows[i];
      }
    }
    return current >= 0 ? rows[current] : null;
  }

  function press(form, action) {
    if (!form) {
      return false;
    }
    var button = form.querySelector('button[name="action"][value="' + action + '"]');
    if (!button) {
      return false;
    }
    if (form.requestSubmit) {
      form.requestSubmit(button);
    } else {
      button.click();
    }
    return true;
  }

  // Acts on one row: only its box is ticked, so the server sees just it.
  function actOnRow(choose) {
    var row = currentRow();
    if (!listForm || !row) {
      return false;
    }
    var all = listForm.querySelector('input[name="all"]');
    if (all) {
      all.checked = false;
    }
    var boxes = listForm.querySelectorAll('td.pick input[name="uid"]');
    for (var i = 0; i < boxes.length; i++) {
      boxes[i].checked = row.contains(boxes[i]);
    }
    return press(listForm, choose(row));
  }

  function actOnMessage(action) {
    return press(messageForm, action);
  }

  function follow(selector) {
    var link = document.querySelector(selector);
    if (link) {
      window.location.assign(link.href);
    }
    return link !== null;
  }

  function messageIsFlagged() {
    return document.querySelector("nav.crumbs .flag") !== null;
  }

  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (isTyping(event.target)) {
      // Escape leaves the field, so that the next key is a shortcut again.
      if (event.key === "Escape") {
        event.target.blur();
      }
      return;
    }
    var done = false;
    switch (event.key) {
      case "j":
        if (rows.length > 0) {
          focusRow(current + 1);
          done = true;
        } else {
          done = follow("nav.crumbs a[rel=next]");
        }
        break;
      case "k":
        if (rows.length > 0) {
          focusRow(current < 0 ? 0 : current - 1);
          done = true;
        } else {
          done = follow("nav.crumbs a[rel=prev]");
        }
        break;
      case "o":
      case "Enter":
        // Enter on a focused link or button does its own thing.
        var idle = !document.activeElement || document.activeElement === document.body;
        var row = currentRow();
        var link = row && rowLink(row);
        if (link && (event.key === "o" || idle)) {
          window.location.assign(link.href);
          done = true;
        }
        break;
      case "u":
        var back = document.querySelector("nav.crumbs a");
        if (back) {
          window.location.assign(back.href);
          done = true;
        }
        break;
      case "s":
        done = actOnRow(function (r) {
          return r.classList.contains("flagged") ? "unflag" : "flag";
        }) || actOnMessage(messageIsFlagged() ? "unflag" : "flag");
        break;
      case "m":
        done = actOnRow(function (r) {
          return r.classList.contains("unread") ? "read" : "unread";
        }) || actOnMessage("unread");
        break;
      case "#":
        done = actOnRow(function () { return "delete"; }) || actOnMessage("delete");
        break;
      case "e":
        done = actOnRow(function () { return "archive"; }) || actOnMessage("archive");
        break;
      case "/":
        var search = document.querySelector('input[type="search"]');
        if (search) {
          search.focus();
          done = true;
        }
        break;
      case "c":
        done = follow("a.compose-link");
        break;
      case "r":
        done = follow("nav.compose-links a.reply");
        break;
      case "a":
        done = follow("nav.compose-links a.reply-all");
        break;
      case "f":
        done = follow("nav.compose-links a.forward");
        break;
      case "?":
        window.location.assign("/help");
        done = true;
        break;
    }
    if (done) {
      event.preventDefault();
    }
  }

  // "Select all on this page" ticks the rows' boxes; unticking a row
  // unticks it, so that what is ticked is what the server applies.
  function wireSelectAll() {
    if (!listForm) {
      return;
    }
    var all = listForm.querySelector('input[name="all"]');
    var boxes = listForm.querySelectorAll('td.pick input[name="uid"]');
    if (!all) {
      return;
    }
    all.addEventListener("change", function () {
      for (var i = 0; i < boxes.length; i++) {
        boxes[i].checked = all.checked;
      }
    });
    for (var i = 0; i < boxes.length; i++) {
      boxes[i].addEventListener("change", function (event) {
        if (!event.target.checked) {
          all.checked = false;
        }
      });
    }
  }

  wireSelectAll();
  document.addEventListener("keydown", onKey);
})();
