// gkxlsx web: upload with progress (one request per file) and drag-and-drop.
// Loaded as a file (the Content-Security-Policy allows no inline script); pages work without it.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }
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
          progress.textContent = "全部完成：共 " + files.length + " 个文件。";
          btn.disabled = false;
          dropped = [];
          input.value = "";
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
          return r.text().then(function (t) { return { ok: r.ok || isRows, text: t }; });
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
              var td2 = document.createElement("td"); td2.textContent = "✗ 未登记";
              var td3 = document.createElement("td");
              var tmp = document.createElement("div"); tmp.innerHTML = res.text;
              var msg = tmp.querySelector("[role=alert]");
              td3.textContent = msg ? msg.textContent : "上传失败，请重试。";
              tr.appendChild(td1); tr.appendChild(td2); tr.appendChild(td3);
              rows.appendChild(tr);
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
