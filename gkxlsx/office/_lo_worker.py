"""Worker process driving a private headless LibreOffice over UNO.

Run by a Python interpreter that can ``import uno`` (Debian: ``/usr/bin/python3``
with ``python3-uno``), never imported by gkxlsx itself.  It must only use the
standard library and ``uno``: the project's own interpreter has no uno, and this
file must not import anything from gkxlsx.

Protocol (JSON, one object per line):

* requests on stdin:  ``{"id": 1, "op": "read", "args": {...}, "timeout": 120}``
* replies on stdout:  ``{"id": 1, "ok": true, "result": ...}`` or
  ``{"id": 1, "ok": false, "error": "<Chinese message>", "detail": "..."}``
* events on stdout:   ``{"event": "ready", "pid": ...}``,
  ``{"event": "soffice", "pid": ...}`` (each time soffice is spawned).

The worker spawns ``soffice`` in its own process group (the one the parent made
for the worker), with a throw-away profile and a unique pipe name; it kills
soffice by PID (the whole process tree) on restart, on timeout, on shutdown and
when its stdin is closed.  Everything soffice or pyuno print goes to stderr so
stdout stays a clean protocol channel.
"""

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

# Keep the protocol channel private: fd 1 becomes stderr for everyone else
# (pyuno, soffice children, stray prints).
_PROTO = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr

import uno  # noqa: E402  (after the fd juggling on purpose)
from com.sun.star.beans import PropertyValue  # noqa: E402

DisposedException = uno.getClass("com.sun.star.lang.DisposedException")
UnoRuntimeException = uno.getClass("com.sun.star.uno.RuntimeException")
UnoException = uno.getClass("com.sun.star.uno.Exception")

STARTUP_TIMEOUT = float(os.environ.get("GKXLSX_LO_STARTUP_TIMEOUT", "60"))
SOFFICE = os.environ.get("GKXLSX_SOFFICE") or "soffice"

# accessibility roles (com.sun.star.accessibility.AccessibleRole)
ROLE_ALERT = 1
ROLE_DIALOG = 12
ROLE_PUSH_BUTTON = 44

# (doc kind, fmt) -> filter name
FILTERS = {
    ("calc", "xlsx"): "Calc MS Excel 2007 XML",
    ("calc", "xls"): "MS Excel 97",
    ("calc", "ods"): "calc8",
    ("calc", "pdf"): "calc_pdf_Export",
    ("calc", "html"): "HTML (StarCalc)",
    ("calc", "csv"): "Text - txt - csv (StarCalc)",
    ("writer", "pdf"): "writer_pdf_Export",
    ("writer", "docx"): "MS Word 2007 XML",
    ("writer", "doc"): "MS Word 97",
    ("writer", "odt"): "writer8",
    ("writer", "html"): "HTML (StarWriter)",
    ("writer", "txt"): "Text",
    ("draw", "pdf"): "draw_pdf_Export",
    ("impress", "pdf"): "impress_pdf_Export",
}
# export options: UTF-8 text (the defaults would write "?" for Chinese characters)
FILTER_OPTIONS = {
    "Text - txt - csv (StarCalc)": "44,34,76,1",
    "Text": "UTF8",
}
# documents only Writer opens: loading one fails on a Calc-only installation
WRITER_SUFFIXES = (".docx", ".doc", ".odt", ".fodt", ".rtf", ".html", ".htm", ".xhtml", ".wps", ".wpd", ".txt")
KIND_NAMES = {"calc": "电子表格", "writer": "文字文档", "draw": "绘图", "impress": "演示文稿", "other": "文档"}


class WorkerError(Exception):
    """An error to report to the caller (message in Chinese)."""

    def __init__(self, message, detail="", missing=None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.missing = missing  # a component that is not installed ("writer"); the caller words it


class OfficeDied(Exception):
    """soffice vanished (crash, kill or watchdog) in the middle of a request."""


def pv(name, value):
    p = PropertyValue()
    p.Name = name
    p.Value = value
    return p


def log(*args):
    print("[lo-worker]", *args, file=sys.stderr, flush=True)


def send(obj):
    _PROTO.write(json.dumps(obj, ensure_ascii=False) + "\n")
    _PROTO.flush()


def file_url(path):
    # pathlib.Path.as_uri() percent-encodes UTF-8 (Chinese names work).
    import pathlib

    return pathlib.Path(os.path.abspath(path)).as_uri()


def _children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as fh:
                data = fh.read().decode("latin-1")
        except OSError:
            continue
        # comm may contain spaces/parens: ppid is the 2nd field after the last ')'
        try:
            ppid = int(data[data.rindex(")") + 2 :].split()[1])
        except (ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(name))
    return kids


def process_tree(pid):
    """pid and all its descendants (snapshot from /proc)."""
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def bound_socket_paths(pids):
    """/tmp/OSL_PIPE_* unix sockets bound by these processes (soffice's pipes)."""
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    paths = []
    try:
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as fh:
            next(fh, None)
            for line in fh:
                parts = line.split()
                if len(parts) >= 8 and parts[6] in inodes:
                    path = parts[7]
                    if os.path.basename(path).startswith("OSL_PIPE_") and path not in paths:
                        paths.append(path)
    except OSError:
        pass
    return paths


def _terminate(desktop):
    try:
        desktop.terminate()
    except Exception:
        pass


def is_disposed(exc):
    if isinstance(exc, (DisposedException, OfficeDied)):
        return True
    if isinstance(exc, UnoRuntimeException):
        msg = str(getattr(exc, "Message", "") or exc)
        return "bridge" in msg.lower() or "disposed" in msg.lower()
    return False


def remove_stale_lock(path):
    """Remove ``.~lock.NAME#`` next to path when the office that wrote it is gone.

    A lock is stale when the profile it names (``file:///...``) no longer exists,
    which is what a killed or crashed private soffice leaves behind.
    """
    d, name = os.path.split(os.path.abspath(path))
    lock = os.path.join(d, ".~lock.%s#" % name)
    try:
        with open(lock, encoding="utf-8", errors="replace") as fh:
            content = fh.read()
    except OSError:
        return
    stale = False
    for part in content.split(","):
        part = part.strip().rstrip(";")
        if part.startswith("file://"):
            from urllib.parse import unquote, urlparse

            prof = unquote(urlparse(part).path)
            if prof and not os.path.exists(prof):
                stale = True
    if stale:
        try:
            os.unlink(lock)
            log("removed stale lock", lock)
        except OSError:
            pass


class Office:
    """One private soffice process plus its UNO connection."""

    def __init__(self, base):
        self.base = base
        self.proc = None
        self.profile = None
        self.ctx = None
        self.smgr = None
        self.desktop = None
        self.dispatcher = None
        self.toolkit = None
        self.starts = 0
        self.pipe_files = []
        self.cancelled = False  # set by the request watchdog: do not restart, give up
        self._writer = None  # (soffice pid, whether it has Writer), see has_writer()
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------
    def alive(self):
        return self.proc is not None and self.proc.poll() is None and self.desktop is not None

    def ensure(self):
        if not self.alive():
            self.kill()
            self.start()

    def start(self):
        self.starts += 1
        self.profile = tempfile.mkdtemp(prefix="profile-", dir=self.base)
        pipe = "gkxlsx_lo_%d_%s" % (os.getpid(), uuid.uuid4().hex[:12])
        cmd = [
            SOFFICE,
            "--headless",
            "--invisible",
            "--norestore",
            "--nodefault",
            "--nolockcheck",
            "--nologo",
            "-env:UserInstallation=" + file_url(self.profile),
            "--accept=pipe,name=%s;urp;StarOffice.ComponentContext" % pipe,
        ]
        env = dict(os.environ)
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        env.setdefault("SAL_USE_VCLPLUGIN", "svp")
        t0 = time.monotonic()
        try:
            # same process group as the worker: the parent can kill us all at once
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=2,
                stderr=2,
                env=env,
                cwd=self.base,
            )
        except OSError as exc:
            raise WorkerError("无法启动 LibreOffice（%s）：%s" % (SOFFICE, exc)) from None
        send({"event": "soffice", "pid": self.proc.pid})
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
        url = "uno:pipe,name=%s;urp;StarOffice.ComponentContext" % pipe
        deadline = t0 + STARTUP_TIMEOUT
        last = None
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.kill()
                raise WorkerError("LibreOffice 启动失败（退出码 %s）" % rc, str(last or ""))
            if time.monotonic() > deadline:
                self.kill()
                raise WorkerError("LibreOffice 启动超时（%d 秒）" % STARTUP_TIMEOUT, str(last or ""))
            try:
                self.ctx = resolver.resolve(url)
                break
            except Exception as exc:  # NoConnectException while it boots
                last = exc
                time.sleep(0.05)
        self.smgr = self.ctx.ServiceManager
        self.desktop = self.smgr.createInstanceWithContext("com.sun.star.frame.Desktop", self.ctx)
        self.dispatcher = self.smgr.createInstanceWithContext("com.sun.star.frame.DispatchHelper", self.ctx)
        self.toolkit = self.smgr.createInstanceWithContext("com.sun.star.awt.Toolkit", self.ctx)
        # wait until the office really loads documents
        while True:
            doc = None
            try:
                doc = self.desktop.loadComponentFromURL("private:factory/scalc", "_blank", 0, (pv("Hidden", True),))
            except Exception as exc:
                last = exc
            if doc is not None:
                close_doc(doc)
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise WorkerError("LibreOffice 启动后无法使用", str(last or ""))
            time.sleep(0.1)
        # remember the unix sockets it made in /tmp (removed again in kill())
        self.pipe_files = bound_socket_paths(process_tree(self.proc.pid))
        send({"event": "soffice_ready", "pid": self.proc.pid, "pipes": self.pipe_files})
        log("soffice pid %d ready in %.2fs" % (self.proc.pid, time.monotonic() - t0))

    def kill(self, graceful=False):
        """Stop soffice (the whole process tree), drop its profile and pipe files.

        graceful: ask it to terminate first (it then removes its own pipe files),
        bounded to a few seconds; SIGKILL whatever is left in any case.
        """
        with self._lock:
            proc, self.proc = self.proc, None
            desktop = self.desktop
            self.ctx = self.smgr = self.desktop = self.dispatcher = self.toolkit = None
            if proc is not None:
                if graceful and desktop is not None and proc.poll() is None:
                    t = threading.Thread(target=_terminate, args=(desktop,), daemon=True)
                    t.start()
                    try:
                        proc.wait(timeout=5)
                    except Exception:
                        pass
                pids = process_tree(proc.pid)
                for p in reversed(pids):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
                try:
                    proc.wait(timeout=10)
                except Exception:
                    pass
            for path in self.pipe_files:
                try:
                    os.unlink(path)
                except OSError:
                    pass
            self.pipe_files = []
            if self.profile:
                shutil.rmtree(self.profile, ignore_errors=True)
                self.profile = None

    # -- documents ---------------------------------------------------------
    def load(self, src, hidden=True):
        """Load a private copy of src (locks and odd paths never matter)."""
        src = os.path.abspath(src)
        if not os.path.isfile(src):
            raise WorkerError("文件不存在：%s" % src)
        remove_stale_lock(src)
        work = tempfile.mkdtemp(prefix="doc-", dir=self.base)
        suffix = os.path.splitext(src)[1]
        copy = os.path.join(work, "input" + suffix)
        shutil.copyfile(src, copy)
        props = (
            pv("Hidden", hidden),
            pv("MacroExecutionMode", 0),  # NEVER_EXECUTE
            pv("UpdateDocMode", 0),  # NO_UPDATE
            pv("ReadOnly", False),
        )
        try:
            doc = self.desktop.loadComponentFromURL(file_url(copy), "_blank", 0, props)
        except Exception as exc:
            if is_disposed(exc):
                raise
            shutil.rmtree(work, ignore_errors=True)
            self._require_writer_for(src)
            raise WorkerError("LibreOffice 无法打开文件：%s" % src, str(exc)) from None
        if doc is None:
            shutil.rmtree(work, ignore_errors=True)
            if not self.alive():
                raise OfficeDied()
            self._require_writer_for(src)
            raise WorkerError("LibreOffice 无法打开文件：%s" % src)
        return Document(self, doc, work, src)

    def _require_writer_for(self, src):
        """A document only Writer opens, and no Writer: say so instead of blaming the file."""
        if os.path.splitext(src)[1].lower() in WRITER_SUFFIXES and not self.has_writer():
            raise WorkerError("LibreOffice 没有安装 Writer 组件", "private:factory/swriter 不可用", missing="writer")

    def has_writer(self):
        """Whether Writer is installed: a new empty text document can be made (cached per soffice)."""
        pid = self.proc.pid if self.proc is not None else None
        if self._writer is None or self._writer[0] != pid:
            ok = False
            try:
                doc = self.desktop.loadComponentFromURL("private:factory/swriter", "_blank", 0, (pv("Hidden", True),))
            except Exception as exc:
                if is_disposed(exc):
                    raise
                doc = None
            if doc is not None:
                ok = doc_kind(doc) == "writer"
                close_doc(doc)
            self._writer = (pid, ok)
        return self._writer[1]


def close_doc(doc):
    try:
        doc.close(True)
    except Exception:
        try:
            doc.dispose()
        except Exception:
            pass


def doc_kind(doc):
    try:
        if doc.supportsService("com.sun.star.sheet.SpreadsheetDocument"):
            return "calc"
        if doc.supportsService("com.sun.star.text.TextDocument"):
            return "writer"
        if doc.supportsService("com.sun.star.presentation.PresentationDocument"):
            return "impress"
        if doc.supportsService("com.sun.star.drawing.DrawingDocument"):
            return "draw"
    except Exception as exc:
        if is_disposed(exc):
            raise
    return "other"


class Document:
    def __init__(self, office, doc, work, src):
        self.office = office
        self.doc = doc
        self.work = work
        self.src = src
        self.kind = doc_kind(doc)
        self._sheets = {}
        self._cells = {}

    def close(self):
        if self.doc is not None:
            if self.office.alive():
                close_doc(self.doc)
            self.doc = None
        shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def require_calc(self):
        if self.kind != "calc":
            raise WorkerError("不是电子表格文件：%s" % self.src)

    def sheet(self, name):
        self.require_calc()
        sh = self._sheets.get(name)
        if sh is None:
            sheets = self.doc.Sheets
            if not sheets.hasByName(name):
                raise WorkerError(
                    "找不到工作表：%s（文件 %s 中有：%s）" % (name, self.src, "、".join(sheets.ElementNames))
                )
            sh = self._sheets[name] = sheets.getByName(name)
        return sh

    def cell(self, sheet_name, addr):
        key = (sheet_name, addr)
        c = self._cells.get(key)
        if c is None:
            sh = self.sheet(sheet_name)
            try:
                rng = sh.getCellRangeByName(addr)
            except Exception as exc:
                if is_disposed(exc):
                    raise
                raise WorkerError("无效的单元格地址：%s!%s" % (sheet_name, addr)) from None
            ra = rng.getRangeAddress()
            if ra.StartColumn != ra.EndColumn or ra.StartRow != ra.EndRow:
                raise WorkerError("只能指定单个单元格：%s!%s" % (sheet_name, addr))
            c = self._cells[key] = sh.getCellByPosition(ra.StartColumn, ra.StartRow)
        return c

    def store(self, dst, fmt):
        """storeToURL into the private dir, then move into place."""
        flt = FILTERS.get((self.kind, fmt))
        if flt is None:
            raise WorkerError("LibreOffice 转换失败：无法把%s保存为 %s 格式" % (KIND_NAMES.get(self.kind, "文档"), fmt))
        dst = os.path.abspath(dst)
        tmp = os.path.join(self.work, "output." + fmt)
        props = [pv("FilterName", flt), pv("Overwrite", True)]
        if flt in FILTER_OPTIONS:
            props.append(pv("FilterOptions", FILTER_OPTIONS[flt]))
        try:
            self.doc.storeToURL(file_url(tmp), tuple(props))
        except Exception as exc:
            if is_disposed(exc):
                raise
            raise WorkerError("LibreOffice 转换失败：保存 %s 时出错" % dst, str(exc)) from None
        if not os.path.isfile(tmp):
            raise WorkerError("LibreOffice 转换失败：没有生成 %s" % dst)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        remove_stale_lock(dst)
        try:
            os.replace(tmp, dst)
        except OSError:
            shutil.copyfile(tmp, dst)
        return dst


def a1(col, row):
    name = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        name = chr(65 + rem) + name
    return "%s%d" % (name, row + 1)


# -- cell values ------------------------------------------------------------
def cell_value(cell):
    """float for numbers, str for text (also formula results), None for empty."""
    t = cell.getType().value
    if t == "EMPTY":
        return None
    if t == "VALUE":
        return float(cell.getValue())
    if t == "TEXT":
        return cell.getString()
    # FORMULA
    if cell.getError():
        return cell.getString()  # "#DIV/0!", "#VALUE!", "Err:502", ...
    rt = cell.FormulaResultType2  # com.sun.star.sheet.FormulaResult
    if rt == 1:  # VALUE
        return float(cell.getValue())
    return cell.getString()


def read_values(doc, cells):
    """Values of many cells with few UNO round trips (one block read per sheet)."""
    out = [None] * len(cells)
    by_sheet = {}
    for i, (sh, addr) in enumerate(cells):
        by_sheet.setdefault(sh, []).append((i, doc.cell(sh, addr)))
    for sh, items in by_sheet.items():
        addrs = [c.getCellAddress() for _, c in items] if len(items) > 3 else None
        block = None
        if addrs:
            c0, c1 = min(a.Column for a in addrs), max(a.Column for a in addrs)
            r0, r1 = min(a.Row for a in addrs), max(a.Row for a in addrs)
            if (c1 - c0 + 1) * (r1 - r0 + 1) <= 20000:
                block = doc.sheet(sh).getCellRangeByPosition(c0, r0, c1, r1).getDataArray()
        for k, (i, c) in enumerate(items):
            if block is None:
                out[i] = cell_value(c)
                continue
            a = addrs[k]
            v = block[a.Row - r0][a.Column - c0]
            if isinstance(v, str) and v != "":
                out[i] = v
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                out[i] = float(v)
            else:  # "" (empty or empty text) or None (error): ask the cell
                out[i] = cell_value(c)
    return out


def snapshot(cell):
    t = cell.getType().value
    if t == "EMPTY":
        return ("empty", None)
    if t == "VALUE":
        return ("value", cell.getValue())
    if t == "TEXT":
        return ("text", cell.getString())
    return ("formula", cell.getFormula())


# com.sun.star.sheet.CellFlags: VALUE=1 DATETIME=2 STRING=4 ANNOTATION=8 FORMULA=16
CLEAR_CONTENT = 1 | 2 | 4 | 16


def restore(cell, snap):
    kind, payload = snap
    if kind == "empty":
        cell.clearContents(CLEAR_CONTENT)
    elif kind == "value":
        cell.setValue(payload)
    elif kind == "text":
        cell.setString(payload)
    else:
        cell.setFormula(payload)


def set_api_value(cell, value, parse_text=False):
    if value is None or (parse_text and value == ""):
        cell.clearContents(CLEAR_CONTENT)
    elif isinstance(value, bool):
        cell.setValue(1.0 if value else 0.0)
    elif isinstance(value, (int, float)):
        cell.setValue(float(value))
    elif isinstance(value, str):
        if parse_text:
            cell.setFormula(value)  # interpreted like typed input: "12" -> 12, "=A1" -> formula
        else:
            cell.setString(value)
    else:
        raise WorkerError("不支持的数据类型：%r" % (value,))


# -- the worker -------------------------------------------------------------
class Worker:
    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="gkxlsx-lo-")
        self.office = Office(self.base)
        self.requests = queue.Queue()

    # stdin reader: runs independently of the (possibly hung) main thread
    def reader(self):
        try:
            for line in sys.stdin:
                line = line.strip()
                if not line:
                    continue
                try:
                    req = json.loads(line)
                except ValueError:
                    log("bad request line", line[:200])
                    continue
                self.requests.put(req)
        except Exception:
            pass
        # parent went away (or asked us to stop): never leave soffice behind
        self.requests.put(None)
        time.sleep(5)  # give the main thread a chance to shut down cleanly
        self.shutdown()
        os._exit(0)

    def shutdown(self):
        try:
            self.office.kill(graceful=True)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def _watchdog(self):
        self.office.cancelled = True
        log("request timed out: killing soffice")
        self.office.kill()

    def run(self):
        threading.Thread(target=self.reader, daemon=True).start()
        send({"event": "ready", "pid": os.getpid(), "base": self.base})
        try:
            self.office.ensure()  # start soffice eagerly, while the caller prepares requests
        except WorkerError as exc:
            log("startup failed:", exc.message, exc.detail)
        while True:
            req = self.requests.get()
            if req is None or req.get("op") == "shutdown":
                self.shutdown()
                if req is not None:
                    send({"id": req.get("id"), "ok": True, "result": None})
                return
            self.handle(req)

    def handle(self, req):
        rid = req.get("id")
        op = req.get("op")
        args = req.get("args") or {}
        timeout = float(req.get("timeout") or 120.0)
        fn = getattr(self, "op_" + str(op), None)
        if fn is None:
            send({"id": rid, "ok": False, "error": "未知操作：%s" % op})
            return
        t0 = time.monotonic()
        self.office.cancelled = False
        attempts = 0
        timer = None
        try:
            # the first soffice start-up does not count against the request's timeout
            self.office.ensure()
            timer = threading.Timer(timeout, self._watchdog)
            timer.daemon = True
            timer.start()
            while True:
                attempts += 1
                try:
                    self.office.ensure()
                    result = fn(**args)
                    break
                except WorkerError:
                    if self.office.cancelled:
                        raise WorkerError("LibreOffice 操作超时（%s 秒）" % timeout) from None
                    raise
                except Exception as exc:
                    if self.office.cancelled:
                        raise WorkerError("LibreOffice 操作超时（%s 秒）" % timeout) from None
                    if is_disposed(exc) or not self.office.alive():
                        log("soffice died during %s (attempt %d): %r" % (op, attempts, exc))
                        self.office.kill()
                        if attempts >= 2:
                            raise WorkerError("LibreOffice 意外退出（已重启一次仍失败）", repr(exc)) from None
                        continue
                    raise
        except WorkerError as exc:
            send({"id": rid, "ok": False, "error": exc.message, "detail": exc.detail, "missing": exc.missing})
            return
        except Exception as exc:
            detail = traceback.format_exc()
            log(detail)
            send({"id": rid, "ok": False, "error": "LibreOffice 操作失败：%s" % (exc,), "detail": detail})
            return
        finally:
            if timer is not None:
                timer.cancel()
        send({"id": rid, "ok": True, "result": result, "seconds": round(time.monotonic() - t0, 3)})

    # -- operations --------------------------------------------------------
    def op_ping(self):
        return {"pid": os.getpid(), "soffice_pid": self.office.proc.pid, "starts": self.office.starts}

    def op_components(self):
        """Which optional components this LibreOffice has (a Calc-only installation has no Writer)."""
        return {"writer": self.office.has_writer()}

    def op_crash_soffice(self):
        """Test hook: kill soffice behind our own back (next request restarts it)."""
        pid = self.office.proc.pid
        for p in process_tree(pid):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        self.office.proc.wait(timeout=10)
        return {"killed": pid}

    def op_convert(self, src, fmt, dst):
        with self.office.load(src) as d:
            return d.store(dst, fmt)

    def op_read(self, src, cells, recalc=False):
        with self.office.load(src) as d:
            d.require_calc()
            if recalc:
                d.doc.calculateAll()
            return read_values(d, [tuple(c) for c in cells])

    def op_evaluate(self, src, datasets, read_cells, parse_text=False):
        read_cells = [tuple(c) for c in read_cells]
        with self.office.load(src) as d:
            d.require_calc()
            doc = d.doc
            doc.enableAutomaticCalculation(False)
            originals = {}
            prev = set()
            results = []
            for ds in datasets:
                keys = []
                for sh, addr, value in ds:
                    key = (sh, addr)
                    cell = d.cell(sh, addr)
                    if key not in originals:
                        originals[key] = snapshot(cell)
                    keys.append((key, cell, value))
                current = {k for k, _, _ in keys}
                for key in prev - current:  # every dataset starts from the pristine workbook
                    restore(d.cell(*key), originals[key])
                for _key, cell, value in keys:
                    set_api_value(cell, value, parse_text)
                prev = current
                doc.calculateAll()
                results.append(read_values(d, read_cells))
            return results

    def op_fill(self, src, dst, edits, recalc=True):
        fmt = os.path.splitext(dst)[1].lower().lstrip(".")
        if fmt not in ("xlsx", "xls", "ods"):
            raise WorkerError("LibreOffice 转换失败：不支持的输出格式 .%s（可用 .xlsx / .xls / .ods）" % fmt)
        filler = Filler(self.office, src)
        try:
            results = filler.run([tuple(e) for e in edits])
            d = filler.document
            if recalc:
                d.doc.calculateAll()
            d.store(dst, fmt)
            return results
        finally:
            filler.close()


class Filler:
    """Types into cells like a user: select the cell in the view, dispatch .uno:EnterString.

    LibreOffice 7.4 shows an (asynchronous) "Protected cells can not be modified"
    message box when a write is refused; a second refusal in the same view then
    crashes soffice.  So after every refusal the view is replaced by a fresh one
    on the same document model (.uno:NewWindow, old frame closed).  If soffice
    dies anyway, it is restarted, the document reloaded and the accepted edits
    replayed, then the fill continues.
    """

    MAX_RESTARTS = 3

    def __init__(self, office, src):
        self.office = office
        self.src = src
        self.document = None
        self.ctrl = None
        self.frame = None
        self.restarts = 0
        self._cell_info = {}
        self._active = None
        self._validation = {}

    def close(self):
        if self.document is not None:
            self.document.close()
            self.document = None

    def open(self, replay):
        self.close()
        self.office.ensure()
        self.document = self.office.load(self.src)
        self.document.require_calc()
        self.ctrl = self.document.doc.getCurrentController()
        self.frame = self.ctrl.getFrame()
        self._active = None
        for sh, addr, text in replay:
            _, why = self.type_into(sh, addr, text)
            if why is not None or self.alert_windows():
                # the same edit was accepted before: the workbook cannot be reproduced
                raise WorkerError("LibreOffice 重新打开后重放输入失败：%s!%s" % (sh, addr))

    def run(self, edits):
        accepted = []
        results = []
        self.open([])
        i = 0
        while i < len(edits):
            sh, addr, text = edits[i]
            try:
                res = self.edit(sh, addr, text)
            except Exception as exc:
                if self.office.cancelled or (not is_disposed(exc) and self.office.alive()):
                    raise
                self.restarts += 1
                log("soffice died while typing into %s!%s (restart %d)" % (sh, addr, self.restarts))
                if self.restarts > self.MAX_RESTARTS:
                    raise WorkerError("LibreOffice 在输入 %s!%s 时反复崩溃" % (sh, addr), repr(exc)) from None
                self.office.kill()
                self.close()  # its soffice is gone: only drops the private copy
                self.open(accepted)
                continue  # retry the same edit
            results.append(res)
            if res["ok"]:
                accepted.append((sh, addr, text))
            i += 1
        return results

    def alert_windows(self):
        tk = self.office.toolkit
        out = []
        for i in range(tk.getTopWindowCount()):
            w = tk.getTopWindow(i)
            try:
                role = w.getAccessibleContext().getAccessibleRole()
            except Exception as exc:
                if is_disposed(exc):
                    raise
                continue
            if role in (ROLE_ALERT, ROLE_DIALOG):
                out.append(w)
        return out

    @staticmethod
    def window_text(w):
        texts = []

        def walk(acc, depth):
            ctx = acc.getAccessibleContext()
            if ctx is None or depth > 8:
                return
            if ctx.getAccessibleRole() != ROLE_PUSH_BUTTON:
                name = ctx.getAccessibleName()
                if name and depth > 0:
                    texts.append(name)
            for k in range(ctx.getAccessibleChildCount()):
                walk(ctx.getAccessibleChild(k), depth + 1)

        try:
            walk(w, 0)
        except Exception as exc:
            if is_disposed(exc):
                raise
        return " ".join(texts).strip()

    def select(self, sh, addr):
        """Put the cell cursor on the cell; returns (cell, None) or (cell, why not)."""
        doc = self.document
        sheet = doc.sheet(sh)
        cell = doc.cell(sh, addr)
        key = (sh, addr)
        info = self._cell_info.get(key)
        if info is None:
            want = cell.getCellAddress()
            # a cell hidden under a merged area cannot be selected on its own: typing
            # would land in the merged area's top-left cell
            cur = sheet.createCursorByRange(cell)
            cur.collapseToMergedArea()
            ra = cur.getRangeAddress()
            why = None
            if (ra.StartColumn, ra.StartRow) != (want.Column, want.Row):
                why = "该单元格属于合并单元格 %s:%s，只能在 %s 输入" % (
                    a1(ra.StartColumn, ra.StartRow),
                    a1(ra.EndColumn, ra.EndRow),
                    a1(ra.StartColumn, ra.StartRow),
                )
            # typing into a locked cell of a protected sheet is always refused
            locked = bool(sheet.isProtected() and cell.CellProtection.IsLocked)
            info = self._cell_info[key] = (want, ra, why, locked)
        want, ra, why, _ = info
        if why is not None:
            return cell, why
        if self._active != sh:
            self.ctrl.setActiveSheet(sheet)
            self._active = sh
        self.ctrl.select(cell)
        try:
            got = self.ctrl.getSelection().getRangeAddress()
            same = (
                got.Sheet == want.Sheet
                and got.StartColumn == want.Column
                and got.StartRow == want.Row
                and got.EndColumn <= ra.EndColumn
                and got.EndRow <= ra.EndRow
            )
        except Exception as exc:
            if is_disposed(exc):
                raise
            same = False
        return cell, (None if same else "无法选中该单元格")

    def type_into(self, sh, addr, text):
        """Select and type; returns (cell, None) or (cell, why it could not be typed)."""
        cell, why = self.select(sh, addr)
        if why is None:
            self.office.dispatcher.executeDispatch(self.frame, ".uno:EnterString", "", 0, (pv("StringName", text),))
        return cell, why

    def new_view(self):
        """Replace the current view (which showed a message box) by a fresh one."""
        doc = self.document.doc
        old_frame, old_ctrl = self.frame, self.ctrl
        self.office.dispatcher.executeDispatch(old_frame, ".uno:NewWindow", "", 0, ())
        new_ctrl = None
        en = doc.getControllers()
        while en.hasMoreElements():
            c = en.nextElement()
            if c != old_ctrl:
                new_ctrl = c
        if new_ctrl is None:
            raise OfficeDied()  # cannot make a new view: fall back to restart + replay
        new_frame = new_ctrl.getFrame()
        try:
            old_frame.close(True)
        except Exception as exc:
            if is_disposed(exc):
                raise
            old_frame.dispose()
        self.ctrl, self.frame = new_ctrl, new_frame
        self._active = None
        if self.alert_windows():
            raise OfficeDied()

    def edit(self, sh, addr, text):
        tk = self.office.toolkit
        before = tk.getTopWindowCount()
        cell, why = self.type_into(sh, addr, text)
        message = why
        refused = why is not None
        if not refused:
            alerts = self.alert_windows() if tk.getTopWindowCount() > before else []
            if alerts:
                refused = True
                message = self.window_text(alerts[0]) or "LibreOffice 拒绝了输入"
            elif self._cell_info[(sh, addr)][3]:
                # locked cell of a protected sheet, yet no message box seen: refused all the same
                refused = True
                message = "受保护的单元格不能修改"
            if refused:
                self.new_view()
        res = {
            "sheet": sh,
            "cell": addr,
            "text": text,
            "ok": not refused,
            "refused": refused,
            "value": cell_value(cell),
            "invalid": False,
            "message": message,
        }
        res.update(self.validity(sh, cell))
        return res

    def validity(self, sh, cell):
        """Ask LibreOffice's detective (Tools > Detective > Mark Invalid Data)
        whether the cell's content violates its data validation."""
        key = (sh, cell.AbsoluteName)
        if key not in self._validation:
            v = None
            try:
                v = cell.Validation
                if v.Type.value == "ANY":
                    v = None
            except Exception as exc:
                if is_disposed(exc):
                    raise
                v = None
            self._validation[key] = v
        v = self._validation[key]
        if v is None:
            return {"invalid": False}
        sheet = self.document.sheet(sh)
        want = cell.getCellAddress()
        invalid = False
        page = sheet.DrawPage
        first = page.Count  # the detective's circles are added after the existing shapes
        sheet.showInvalid()
        try:
            for k in range(first, page.Count):
                shape = page.getByIndex(k)
                if shape.ShapeType != "com.sun.star.drawing.EllipseShape":
                    continue
                anchor = getattr(shape, "Anchor", None)
                if anchor is None or not hasattr(anchor, "getCellAddress"):
                    continue
                a = anchor.getCellAddress()
                if a.Sheet == want.Sheet and a.Column == want.Column and a.Row == want.Row:
                    invalid = True
                    break
        finally:
            sheet.clearArrows()
        out = {"invalid": invalid}
        if invalid:
            out["alert"] = str(v.ErrorAlertStyle.value).lower()  # stop / warning / info / macro
        return out


def main():
    try:
        Worker().run()
    except Exception:
        log(traceback.format_exc())
    finally:
        try:
            _PROTO.flush()
        except Exception:
            pass
        # pyuno may crash during interpreter teardown: leave right away
        os._exit(0)


if __name__ == "__main__":
    main()
