"""Run an untrusted command confined, under limits, and always clean up after it.

- :mod:`.limits`: what a run may use and see, what it did, and the refusal;
- :mod:`.confinement`: the ways of confining a command, one class each (bubblewrap,
  permissions), chosen by name; each says what it enforced and what it could not;
- :mod:`.cgroups`: kernel-enforced memory, process and CPU limits for one run;
- :mod:`.supervision`: start, watch, stop, kill everything, remove what was left.

Everything a caller needs is importable from this package.
"""

from .cgroups import CGROUP_ROOT, Cgroups, cgroups_available
from .confinement import (CONFINEMENTS, RUN_UID_BASE, RUN_UID_SPAN, Bubblewrap, Confinement, Permissions, Plan,
                          bubblewrap_works, can_drop_privileges, choose, network_namespace_supported, plan_for,
                          readable_by_everyone)
from .limits import Limits, Outcome, SandboxUnavailable, View, thread_env
from .supervision import Sandboxed, give_to, private_mb, remove_tree, run_limited

__all__ = ["CGROUP_ROOT", "CONFINEMENTS", "RUN_UID_BASE", "RUN_UID_SPAN", "Bubblewrap", "Cgroups", "Confinement",
           "Limits", "Outcome", "Permissions", "Plan", "SandboxUnavailable", "Sandboxed", "View", "bubblewrap_works", "can_drop_privileges",
           "cgroups_available", "choose", "give_to", "network_namespace_supported", "plan_for", "private_mb",
           "readable_by_everyone", "remove_tree", "run_limited", "thread_env"]
