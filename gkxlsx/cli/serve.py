"""``gkxlsx serve``: the web app (gkxlsx/web) for the office and the units."""

from __future__ import annotations

from pathlib import Path

import typer

from gkxlsx.cli.common import fail


def serve_cmd(
    path: Path = typer.Argument(
        Path("."), metavar="目录", help="一个收集任务目录，或存放多个收集任务的文件夹（默认：当前目录）"
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="监听地址；在内网提供服务用 0.0.0.0"),
    port: int = typer.Option(8000, "--port", "-p", min=1, max=65535, help="端口"),
    open_browser: bool = typer.Option(False, "--open", help="启动后用浏览器打开"),
    templates: Path | None = typer.Option(None, "--templates", help="自定义网页模板目录（其中 web/ 下的同名模板优先）"),
    workers: int = typer.Option(
        1,
        "--workers",
        "-w",
        min=1,
        max=16,
        help="工作进程数（默认 1）。报送截止前各单位集中上传时，可设为本机 CPU 核数（如 2），每个进程约占 100 MB 内存",
    ),
) -> None:
    """启动网页版：办公室的管理页面和各单位的填报页面。 / Serve the web app."""
    import logging
    import socket

    if not path.exists():
        fail(f"目录不存在：{path}。请给出收集任务目录，或一个用于存放收集任务的文件夹。")
    if not path.is_dir():
        fail(f"{path} 不是目录。")
    if templates is not None and not templates.is_dir():
        fail(f"模板目录不存在：{templates}")
    try:
        import uvicorn

        from gkxlsx.web.app import build
    except ImportError as e:
        fail(f"网页版需要的组件没有安装（{e.name}）。请运行：pip install gkxlsx（或 pip install -e .）后重试。")
    try:
        app = build(path, templates)
    except OSError as e:
        fail(f"无法在 {path} 中保存网页版的设置（{e.strerror or e}）。请检查目录权限。")
    try:  # a clear message for a port in use, before uvicorn starts
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as e:
        fail(f"无法在 {host}:{port} 上启动（{e.strerror or e}）。端口可能已被占用，请用 --port 换一个端口。")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}/"
    web = app.state.web
    typer.echo(f"网页版已启动：{url}（服务目录 {web.site.root}）")
    code = web.state.setup_code()
    if code:
        typer.echo(f"首次使用：打开上面的地址建立办公室账号，需要输入启动码 {code}（只能用这一次）。")
    typer.echo("按 Ctrl+C 停止。")
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, server_header=False)
        return
    # several processes: each builds the same app from the folder (uvicorn starts them by name);
    # everything they share is on disk — the ledger, which serialises writers, and .gkxlsx-web/
    import os

    from gkxlsx.web.app import ENV_ROOT, ENV_TEMPLATES

    os.environ[ENV_ROOT] = str(Path(path).resolve())
    os.environ[ENV_TEMPLATES] = str(Path(templates).resolve()) if templates is not None else ""
    uvicorn.run(
        "gkxlsx.web.app:app_from_env",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
