// The share form's "Show passcode" toggle: one button shows or masks both passcode entries, so the citizen can
// check what they typed. Without JavaScript the button stays hidden and the entries stay masked.
(function () {
  "use strict";
  document.querySelectorAll("[data-passcode-toggle]").forEach(function (button) {
    var form = button.closest("form");
    if (!form) return;
    var fields = form.querySelectorAll("input[data-passcode]");
    button.hidden = false;
    button.addEventListener("click", function () {
      var show = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", show ? "true" : "false");
      fields.forEach(function (field) {
        field.type = show ? "text" : "password";
      });
    });
    // Masked again before sending, so no browser offers to keep the passcode as plain form history.
    form.addEventListener("submit", function () {
      fields.forEach(function (field) {
        field.type = "password";
      });
    });
  });
})();
