// mailfront: saves the compose form as a draft once a minute while it is
// being written. The page works the same without it ("Save draft" does what
// this does by hand). Files chosen but not yet attached are left out; the
// draft is replaced, never added to, since it keeps its Message-ID.
(function () {
  "use strict";
  var form = document.querySelector("form.compose");
  var status = document.getElementById("autosave-status");
  if (!form || !status || !window.fetch || !window.FormData) {
    return;
  }

  var changed = false;
  var busy = false;
  form.addEventListener("input", function () {
    changed = true;
  });
  form.addEventListener("submit", function () {
    busy = true;
  });

  function save() {
    if (!changed || busy) {
      return;
    }
    changed = false;
    busy = true;
    var data = new FormData(form);
    data.delete("attachment");
    data.set("action", "save");
    fetch(form.action, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (response) {
        if (response.ok) {
          status.textContent = "Draft saved at " + new Date().toLocaleTimeString() + ".";
        } else {
          changed = true;
          status.textContent = "The draft could not be saved by itself; press Save draft.";
        }
      })
      .catch(function () {
        changed = true;
        status.textContent = "The draft could not be saved by itself; press Save draft.";
      })
      .then(function () {
        busy = false;
      });
  }

  window.setInterval(save, 60000);
})();
