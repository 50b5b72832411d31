// Annotate page: refuse a file over the plan's limit before uploading it. The server enforces
// the same limit; this only saves the user a long upload and gives the message at once.
// The form posts to the app, or straight to S3 (data-upload="s3"), whose signed form is only
// good for data-valid-seconds: past that, the page is reloaded for a fresh one (the file must be
// chosen again) rather than letting S3 refuse the upload at its end.
(function () {
  "use strict";
  var form = document.getElementById("annotate-form");
  if (!form) return;
  var input = form.querySelector("input[type=file]");
  var alertBox = document.getElementById("size-error");
  var alertText = document.getElementById("size-error-text");
  var submit = document.getElementById("annotate-submit");
  var isFree = form.dataset.plan === "free";
  var loadedAt = Date.now();
  var validMs = parseInt(form.dataset.validSeconds || "0", 10) * 1000;

  // Sizes in binary units, as the server's messages and file managers show them.
  function humanSize(n) {
    var units = ["bytes", "KB", "MB", "GB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i === 0 ? n + " bytes" : (Math.round(n * 10) / 10) + " " + units[i];
  }

  function check() {
    var file = input.files && input.files[0];
    var maxBytes = parseInt(form.dataset.maxBytes, 10);
    if (file && maxBytes > 0 && file.size > maxBytes) {
      alertText.textContent =
        file.name + " is " + humanSize(file.size) + ": " +
        (isFree
          ? "Free accounts can annotate files of up to " + form.dataset.limitText + "."
          : "input files can be at most " + form.dataset.limitText + ".");
      alertBox.hidden = false;
      input.classList.add("is-invalid");
      return false;
    }
    alertBox.hidden = true;
    input.classList.remove("is-invalid");
    return true;
  }

  input.addEventListener("change", check);
  form.addEventListener("submit", function (event) {
    if (!check()) {
      event.preventDefault();
      return;
    }
    if (validMs > 0 && Date.now() - loadedAt > validMs - 60000) {
      event.preventDefault();
      window.location.reload();
      return;
    }
    submit.disabled = true;
    submit.textContent = "Uploading…";
  });
  // Coming back to the page from the browser's history must not leave the button disabled.
  window.addEventListener("pageshow", function () {
    submit.disabled = false;
    submit.textContent = "Annotate";
  });
})();
