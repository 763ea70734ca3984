"""Running the real `git`, read-only, with fixed argument lists and a time limit.

Every command is built here from validated parts: a revision is first resolved
to a commit id with `rev-parse --verify` (so nothing an agent sends is read as
an option), paths come after `--` under `--literal-pathspecs`, and the work
tree and git directory are named explicitly (a `core.worktree` in the
repository's config cannot point git elsewhere, and git never looks above the
root). Configuration that runs programs is switched off on the command line:
pager, fsmonitor, external diff and textconv, signature checks, and the
repository's clean/smudge filters. The environment is rebuilt from scratch
(no `GIT_*` or pager variable of the caller reaches git), system config is not
read, and optional locks are off, so a `git diff` does not rewrite the index.
Output is read up to `MAX_GIT_OUTPUT_BYTES`; past that, or past the time limit,
the process is killed and the caller is told.

Not protected: the repository's own objects may be large or many; git's time
and output limits bound what that costs.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

import anyio

from engine.errors import InvalidArgumentError
from engine.repo.paths import Repo
from engine.repo.safe_git import git_env, git_prefix

__all__ = ["GitOutput", "run_git", "resolve_revision", "file_at", "MAX_GIT_OUTPUT_BYTES"]

# Bytes of output one git command may produce before it is stopped (the tools then fit
# what they show to their token budget).
MAX_GIT_OUTPUT_BYTES = 4_000_000
# A revision as an agent may write it: names, ids, HEAD~2, main^, v1.0, HEAD@{1}.
_REVISION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./~^@{}+-]{0,199}")

@dataclass(frozen=True)
class GitOutput:
    stdout: bytes
    stderr: str
    returncode: int
    truncated: bool = False  # stopped at MAX_GIT_OUTPUT_BYTES

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


async def run_git(repo: Repo, args: list[str]) -> GitOutput:
    """Run `git <args>` in the repository; raises InvalidArgumentError when it is not a git
    repository or the command ran past its time limit."""
    if not repo.is_git:
        raise InvalidArgumentError(
            "the repository is not a git repository (no .git at its root), so git history is not available; "
            "list_files, search_code and read_file still work"
        )
    argv = [*git_prefix(repo.root), *args]
    env = git_env(repo.root)
    out = bytearray()
    err = bytearray()
    truncated = False
    with anyio.move_on_after(repo.git_timeout_s) as clock:
        async with await anyio.open_process(argv, stdin=subprocess.DEVNULL, env=env, cwd=repo.root) as proc:
            try:
                async with anyio.create_task_group() as tg:

                    async def drain_err() -> None:
                        assert proc.stderr is not None
                        async for chunk in proc.stderr:
                            if len(err) < 8192:
                                err.extend(chunk)

                    tg.start_soon(drain_err)
                    assert proc.stdout is not None
                    async for chunk in proc.stdout:
                        out.extend(chunk)
                        if len(out) > MAX_GIT_OUTPUT_BYTES:
                            truncated = True
                            proc.kill()
                            break
                code = await proc.wait()
            finally:
                if proc.returncode is None:
                    proc.kill()
                    with anyio.CancelScope(shield=True):
                        await proc.wait()
    if clock.cancelled_caught:
        raise InvalidArgumentError(
            f"git {args[0]} ran longer than {repo.git_timeout_s:g}s and was stopped; narrow it to a path "
            "or fewer commits"
        )
    return GitOutput(bytes(out[:MAX_GIT_OUTPUT_BYTES]), err.decode("utf-8", "replace").strip(),
                     0 if truncated else code, truncated)  # fmt: skip


async def resolve_revision(repo: Repo, revision: str | None) -> str:
    """The full commit id of `revision` (default HEAD); raises in a sentence for one that is not a commit."""
    rev = (revision or "HEAD").strip()
    if not _REVISION.fullmatch(rev) or ".." in rev:
        raise InvalidArgumentError(
            f"{revision!r} is not a revision; give a commit id, a branch or tag name, or HEAD~N "
            "(one revision; for a range give base and target separately)"
        )
    done = await run_git(repo, ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"])
    commit = done.text.strip()
    if done.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40,64}", commit):
        raise InvalidArgumentError(f"the revision {rev!r} is not a commit of this repository; git_log lists them")
    return commit


async def file_at(repo: Repo, commit: str, rel: str) -> str | None:
    """The text of `rel` at `commit` (a resolved id), or None when the file is not there."""
    done = await run_git(repo, ["cat-file", "blob", f"{commit}:{rel}"])
    if done.returncode != 0:
        return None
    return done.text
