"""`pulumi-language-python`: the CLI's language plugin for Python programs.

The CLI starts it as `pulumi-language-python [-flags…] [ENGINE_ADDRESS]`, reads the gRPC port from
its first line of stdout, then calls the LanguageRuntime service (pulumi/proto/language.proto).
"""

import argparse
import importlib.metadata
import os
import signal
import subprocess
import sys
import threading
from concurrent import futures

import grpc
from google.protobuf import empty_pb2

from tools.pulumi_protos import load

language_pb2, language_pb2_grpc, plugin_pb2 = load("language_pb2", "language_pb2_grpc", "plugin_pb2")

RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "program_runner.py")
EXIT_REPORTED = 32


def runner_command(req, engine_address: str) -> list[str]:
    """The executor's command line for one RunRequest (flags only when they have a value)."""
    cmd = [sys.executable, "-u", RUNNER]
    flags = {
        "monitor": req.monitor_address,
        "engine": engine_address,
        "project": req.project,
        "root_directory": req.info.root_directory,
        "stack": req.stack,
        "pwd": req.pwd,
        "dry_run": "true" if req.dryRun else "false",
        "parallel": str(req.parallel),
        "organization": req.organization,
    }
    for name, value in flags.items():
        if value:
            cmd += [f"--{name}", value]
    return cmd + [req.info.entry_point or ".", *req.args]


def runner_env(req) -> dict[str, str]:
    import json

    env = dict(os.environ)
    if req.config:
        env["PULUMI_CONFIG"] = json.dumps(dict(req.config))
    env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(req.configSecretKeys))
    return env


class LanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
    def __init__(self, engine_address: str):
        self.engine_address = engine_address
        self._children: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def Handshake(self, request, context):
        self.engine_address = request.engine_address or self.engine_address
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=importlib.metadata.version("pulumi"))

    def GetRequiredPackages(self, request, context):
        # Plugins are built and registered by tools/bootstrap; the engine loads them on demand.
        return language_pb2.GetRequiredPackagesResponse(packages=[])

    def GetRequiredPlugins(self, request, context):
        return language_pb2.GetRequiredPluginsResponse(plugins=[])

    def InstallDependencies(self, request, context):
        # The venv is made from the hash lock by tools/bootstrap; nothing to install at run time.
        return iter(())

    def About(self, request, context):
        return language_pb2.AboutResponse(
            executable=sys.executable,
            version=".".join(map(str, sys.version_info[:3])),
            metadata={"toolchain": "pip (hash-locked venv)"})

    def GetProgramDependencies(self, request, context):
        deps = sorted({(d.metadata["Name"], d.version) for d in importlib.metadata.distributions()})
        return language_pb2.GetProgramDependenciesResponse(
            dependencies=[language_pb2.DependencyInfo(name=n, version=v) for n, v in deps])

    def Run(self, request, context):
        proc = subprocess.Popen(runner_command(request, self.engine_address),
                                env=runner_env(request), stdout=sys.stdout, stderr=sys.stderr)
        with self._lock:
            self._children.add(proc)
        try:
            code = proc.wait()
        finally:
            with self._lock:
                self._children.discard(proc)
        if code == 0:
            return language_pb2.RunResponse()
        if code == EXIT_REPORTED:
            return language_pb2.RunResponse(bail=True)
        return language_pb2.RunResponse(error=f"program exited with non-zero exit code: {code}")

    def Cancel(self, request, context):
        with self._lock:
            for proc in self._children:
                proc.send_signal(signal.SIGINT)
        return empty_pb2.Empty()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="pulumi-language-python")
    ap.add_argument("-version", "--version", action="store_true")
    ap.add_argument("engine_address", nargs="?", default="")
    # The CLI may pass flags of newer hosts (-tracing, -root …): accept and ignore them.
    args, _ = ap.parse_known_args(argv)
    if args.version:
        print(importlib.metadata.version("pulumi"))
        return
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)])
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageHost(args.engine_address), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    # The engine ends plugins with SIGINT/SIGKILL; stop serving cleanly on the former.
    signal.signal(signal.SIGINT, lambda *_: server.stop(0))
    signal.signal(signal.SIGTERM, lambda *_: server.stop(0))
    server.wait_for_termination()


if __name__ == "__main__":
    main()
