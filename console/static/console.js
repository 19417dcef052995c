// Live preview for the campaign editor: as she types, the text is rendered
// for a sample woman by the server (the same engine that sends it), with
// its length and SMS parts, or the error it would be refused with.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var labels = document.querySelector('meta[name="labels"]');
  if (!meta) return;
  var csrf = meta.getAttribute("content");
  var chars = labels ? labels.dataset.chars : "Characters";
  var parts = labels ? labels.dataset.parts : "SMS parts";
  document.querySelectorAll("form.text-editor").forEach(function (form) {
    var area = form.querySelector("textarea");
    var out = document.getElementById(area.dataset.preview);
    var meter = document.getElementById(area.dataset.preview + "-meter");
    var timer = null;
    var seq = 0;
    function update() {
      var mine = ++seq;
      fetch("/preview", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ body: area.value, language: form.dataset.language }),
        credentials: "same-origin"
      }).then(function (r) { return r.json(); }).then(function (p) {
        if (mine !== seq) return;
        if (p.ok) {
          out.textContent = p.text;
          out.classList.remove("err");
          meter.textContent = chars + ": " + p.chars + " · " + parts + ": " + p.parts + " (" + p.encoding + ")";
          meter.dataset.parts = p.parts;
        } else {
          out.textContent = p.error;
          out.classList.add("err");
          meter.textContent = "";
          meter.dataset.parts = "";
        }
      }).catch(function () {});
    }
    area.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(update, 150);
    });
    update();
  });
})();

// The sign-in page's language link keeps the code being typed.
(function () {
  "use strict";
  var code = document.getElementById("code");
  var link = document.querySelector(".sign-in .switch a");
  if (!code || !link) return;
  var base = link.getAttribute("href").split("&code=")[0];
  function keep() {
    var v = code.value.trim();
    link.setAttribute("href", v ? base + "&code=" + encodeURIComponent(v) : base);
  }
  code.addEventListener("input", keep);
})();
