"""The project's image: its build context, a tag that is the hash of that context, the build.

The context holds the Dockerfile template, Smyth's own requirements and source, and the
project's requirements — never its code. Its content decides the tag, so an unchanged
project finds its image and starts without a build.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import docker

from smyth.config import Config
from smyth.exceptions import ConfigError, StackError
from smyth.stack.engine import translated
from smyth.stack.model import LABEL_PROJECT, ImageSpec, project_name

HANDLER_PACKAGES = ("debugpy",)  # the only third-party modules a handler process may load
SERVER_EXTRAS = ("fast",)  # uvloop and httptools for the gateway and worker servers
SKIPPED_PARTS = ("__pycache__",)

Files = dict[str, bytes]


# -- what goes into the context (pure apart from reading the inputs) ---------------------

def template() -> bytes:
    return (resources.files("smyth") / "images" / "Dockerfile").read_bytes()


def smyth_requirements() -> tuple[list[str], list[str]]:
    """Smyth's installed requirements: (for its servers, for handler processes)."""
    try:
        requires = importlib.metadata.requires("smyth") or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise StackError("Smyth's package metadata is missing: install it with pip "
                         "(pip install -e . in a clone) so its image can be built") from exc
    servers: list[str] = []
    handlers: list[str] = []
    for line in requires:
        requirement, _, marker = (part.strip() for part in line.partition(";"))
        extras = re.findall(r"""extra\s*==\s*["']([^"']+)["']""", marker)
        if extras and not set(extras) & set(SERVER_EXTRAS):
            continue
        marker = re.sub(r"""\s*(\band\s+)?extra\s*==\s*["'][^"']+["']""", "", marker).strip()
        marker = re.sub(r"^and\s+", "", marker)
        entry = f"{requirement}; {marker}" if marker else requirement
        name = re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower()
        (handlers if name in HANDLER_PACKAGES else servers).append(entry)
    return servers, handlers


def project_requirements(config: Config) -> str:
    """``[tool.smyth.docker] requirements``, else ``requirements.txt``, else the
    ``[project] dependencies`` of the pyproject."""
    if config.docker.requirements:
        path = config.root / config.docker.requirements
        if not path.is_file():
            raise ConfigError(f"requirements file {str(path)!r} does not exist",
                              file=str(config.path), key="tool.smyth.docker.requirements")
        return path.read_text()
    default = config.root / "requirements.txt"
    if default.is_file():
        return default.read_text()
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    data = tomllib.loads(config.path.read_text())
    dependencies = data.get("project", {}).get("dependencies", [])
    return "".join(f"{d}\n" for d in dependencies if isinstance(d, str))


def package_source(root: Path) -> Files:
    files: Files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not set(rel.parts) & set(SKIPPED_PARTS) and path.suffix != ".pyc":
            files[f"runtime/smyth/{rel.as_posix()}"] = path.read_bytes()
    return files


def context_files(config: Config) -> Files:
    import smyth

    servers, handlers = smyth_requirements()
    return {
        "Dockerfile": template(),
        "smyth-requirements.txt": "".join(f"{r}\n" for r in servers).encode(),
        "handler-requirements.txt": "".join(f"{r}\n" for r in handlers).encode(),
        "requirements.txt": project_requirements(config).encode(),
        **package_source(Path(smyth.__file__).parent),
    }


def context_hash(files: Files, base_image: str) -> str:
    digest = hashlib.sha256(f"BASE_IMAGE={base_image}\0".encode())
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()[:12]


def sync(files: Files, directory: Path) -> None:
    """Make ``directory`` hold exactly ``files``, rewriting only what changed."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = directory / name
        if not path.is_file() or path.read_bytes() != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    for path in sorted(directory.rglob("*"), reverse=True):
        rel = path.relative_to(directory).as_posix()
        if path.is_file() and rel not in files:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def prepare(config: Config, base_image: str, directory: Path) -> ImageSpec:
    """Write the build context to ``directory``; return the image it makes."""
    files = context_files(config)
    sync(files, directory)
    project = project_name(config)
    return ImageSpec(tag=f"smyth-{project}:{context_hash(files, base_image)}",
                     context=str(directory), base_image=base_image,
                     labels={LABEL_PROJECT: project})


# -- the engine ---------------------------------------------------------------------------

def exists(client: docker.DockerClient, tag: str) -> bool:
    with translated(f"looking up image {tag!r}"):
        try:
            client.images.get(tag)
        except docker.errors.ImageNotFound:
            return False
    return True


def build(client: docker.DockerClient, image: ImageSpec, progress: Callable[[str], None]) -> None:
    """Build with the engine's own output passed to ``progress`` line by line."""
    recent: list[str] = []
    with translated(f"building image {image.tag!r} from {image.base_image!r}"):
        stream: Any = client.api.build(
            path=image.context, tag=image.tag, buildargs={"BASE_IMAGE": image.base_image},
            labels=dict(image.labels), rm=True, forcerm=True, decode=True)
        for chunk in stream:
            if "error" in chunk:
                tail = "".join(recent[-15:])
                raise StackError(f"building image {image.tag!r} from {image.base_image!r} "
                                 f"failed: {chunk['error'].strip()}\n{tail}".rstrip())
            text = chunk.get("stream") or chunk.get("status")
            if text:
                recent.append(text if text.endswith("\n") else text + "\n")
                for line in text.rstrip("\n").splitlines():
                    progress(line)
    if not exists(client, image.tag):
        raise StackError(f"building image {image.tag!r} ended without an image")


def prune(client: docker.DockerClient, image: ImageSpec) -> list[str]:
    """Remove this project's older tags; a tag still used by a container stays."""
    repository = image.tag.rsplit(":", 1)[0]
    removed = []
    with translated(f"listing images of {repository!r}"):
        candidates = client.images.list(name=repository)
    for candidate in candidates:
        for tag in candidate.tags:
            if tag.startswith(repository + ":") and tag != image.tag:
                try:
                    client.images.remove(tag)
                    removed.append(tag)
                except docker.errors.APIError:
                    pass  # in use: the next up after it is gone will remove it
    return removed
