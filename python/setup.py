"""Builds sac-cluster-client: setuptools, plus the gRPC stubs of proto/.

The stubs (`sac/v1/*_pb2.py`, `*_pb2_grpc.py`, importable as
`from sac.v1 import policy_pb2`) are generated with grpcio-tools (a build
requirement, pyproject.toml) from `proto/` (a link to the checkout's proto/,
the single source of the contracts) into the wheel's build folder: they are
never committed and never stale.
"""

import pathlib
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent
PROTO_ROOT = HERE / "proto"


class BuildPyWithStubs(build_py):
    def run(self):
        super().run()
        protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.glob("sac/v1/*.proto"))
        if not protos:
            raise RuntimeError(f"no .proto files under {PROTO_ROOT}/sac/v1 (build from a checkout)")
        out = pathlib.Path(self.build_lib).resolve()
        # `python -m grpc_tools.protoc` adds the well-known types
        # (google/protobuf/descriptor.proto, which options.proto imports).
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"--proto_path={PROTO_ROOT}",
                        f"--python_out={out}", f"--grpc_python_out={out}", *protos],
                       check=True, cwd=PROTO_ROOT)
        for package in (out / "sac", out / "sac" / "v1"):
            (package / "__init__.py").touch()


setup(cmdclass={"build_py": BuildPyWithStubs})
