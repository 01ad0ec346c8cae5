// gkxlsx web: upload with progress (one request per file) and drag-and-drop; Chinese file pickers.
// Loaded as a file (the Content-Security-Policy allows no inline script); pages work without it.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }
  // File inputs: the browser's own button speaks the browser's language; show a Chinese button and
  // the chosen names instead (the input stays in the form; without script it shows as it is).
  function filePickers() {
    document.documentElement.classList.add("js");
    var inputs = document.querySelectorAll("input[type=file]");
    for (var i = 0; i < inputs.length; i++) (function (input) {
      var pick = document.createElement("span");
      pick.className = "picker";
      var btn = document.createElement("button");
      btn.type = "button";
      btn.className = "secondary";
      btn.textContent = "选择文件…";
      var names = document.createElement("span");
      names.className = "muted picked";
      function show() {
        var list = [];
        for (var j = 0; j < input.files.length; j++) list.push(input.files[j].name);
        names.textContent = list.length ? list.join("、") : "未选择文件";
      }
      btn.addEventListener("click", function () { input.click(); });
      input.addEventListener("change", show);
      input.classList.add("picked-input");
      input.parentNode.classList.add("picker-host"); // the browser's "choose a file" hint points here
      input.parentNode.insertBefore(pick, input.nextSibling);
      pick.appendChild(btn);
      pick.appendChild(names);
      show();
    })(inputs[i]);
  }
  ready(filePickers);
  ready(function () {
    var form = document.getElementById("upload-form");
    if (!form) return;
    var input = document.getElementById("files");
    var drop = document.getElementById("drop");
    var rows = document.getElementById("result-rows");
    var progress = document.getElementById("progress");
    var dropped = [];
    function chosen() {
      var list = dropped.slice();
      for (var i = 0; i < input.files.length; i++) list.push(input.files[i]);
      return list;
    }
    function showChosen() {
      var n = chosen().length;
      progress.textContent = n ? "已选择 " + n + " 个文件，点击“上传并校验”。" : "";
    }
    input.addEventListener("change", showChosen);
    ["dragenter", "dragover"].forEach(function (ev) {
      drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (ev) {
      drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (e) {
      var fs = e.dataTransfer.files;
      for (var i = 0; i < fs.length; i++) dropped.push(fs[i]);
      showChosen();
    });
    form.addEventListener("submit", function (e) {
      var files = chosen();
      if (!files.length || !window.fetch) return; // plain form post
      e.preventDefault();
      var csrf = form.querySelector("input[name=csrf]").value;
      var btn = document.getElementById("upload-btn");
      btn.disabled = true;
      var i = 0, done = 0;
      function next() {
        if (i >= files.length) {
          btn.disabled = false;
          dropped = [];
          input.value = "";
          input.dispatchEvent(new Event("change"));
          progress.textContent = "全部完成：共 " + files.length + " 个文件。";
          return;
        }
        var f = files[i++];
        progress.textContent = "正在上传并校验第 " + i + "/" + files.length + " 个：" + f.name;
        var fd = new FormData();
        fd.append("csrf", csrf);
        fd.append("files", f, f.name);
        fetch(form.getAttribute("data-one"), {
          method: "POST", body: fd, credentials: "same-origin",
          headers: { "HX-Request": "true", "X-CSRF-Token": csrf }
        }).then(function (r) {
          // result rows come back also when nothing was taken (400/413 with the reason in a row)
          var isRows = r.headers.get("X-Upload-Rows") === "1";
          return r.text().then(function (t) { return { ok: (r.ok && !r.redirected) || isRows, status: r.status, text: t }; });
        })
          .then(function (res) {
            var old = rows.querySelector("tr.summary");
            if (old) old.parentNode.removeChild(old);
            if (res.ok) {
              rows.insertAdjacentHTML("beforeend", res.text);
            } else {
              var tr = document.createElement("tr");
              tr.className = "k-failed";
              var td1 = document.createElement("td"); td1.textContent = f.name;
              var td2 = document.createElement("td");
              var badge = document.createElement("span");
              badge.className = "badge s-有错误"; badge.textContent = "✗ 未登记";
              td2.appendChild(badge);
              var td3 = document.createElement("td");
              // the server's Chinese reason, read from its error page (parsed inert: nothing loads or runs)
              var page = new DOMParser().parseFromString(res.text, "text/html");
              var msg = page.querySelector("[role=alert]");
              td3.textContent = msg ? msg.textContent : "上传失败，请重试。";
              tr.appendChild(td1); tr.appendChild(td2); tr.appendChild(td3);
              rows.appendChild(tr);
              if (res.status === 401 || res.status === 403) { // logged out or page expired: the rest would fail too
                btn.disabled = false;
                progress.textContent = "已停止：" + (files.length - done) + " 个文件未上传。";
                return;
              }
            }
            done++;
            next();
          })
          .catch(function () {
            var tr = document.createElement("tr");
            var td = document.createElement("td");
            td.colSpan = 3;
            td.textContent = f.name + "：网络中断，未上传。请重试。";
            tr.appendChild(td);
            rows.appendChild(tr);
            next();
          });
      }
      next();
    });
  });
})();
