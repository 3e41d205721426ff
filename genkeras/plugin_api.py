"""The plugin API's version, and what changed in it: the words an older plugin gets.

A plugin is written against a version of the API genkeras offers its
components (the hooks of :class:`~genkeras.models.base.GenerativeModel` and
:class:`~genkeras.stabilizers.base.Stabilizer`, the dataset loaders, the
helpers they import). A component may say which one it targets with a class
or module attribute ``plugin_api = N``; genkeras refuses one that targets
another version, naming the plugin, its distribution and what changed. A
plugin that says nothing is taken to target this version; if it fails to
import or fails in use because of a change, :func:`migration_hint` turns the
name in its error into the change (every change is in the plugin guide's
"Migrating a plugin" notes).

Versions: 1 was genkeras 0.1; 2 is genkeras 0.2.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "PLUGIN_API", "check_declared", "migration_hint"]

#: The plugin API this genkeras offers.
PLUGIN_API = 2

#: What changed from API 1 (genkeras 0.1) to 2, keyed by a name an API-1 plugin uses.
MIGRATIONS = {
    "gradient_loss": "a train_step takes its gradient step with self.optimize(loss_fn, "
    "variables, optimizer), which scales, clips and applies it",
    "replica_scale": "self.optimize(loss_fn) divides the loss by the replicas itself",
    "cache_dir": "evaluation_metrics(spec, batch_size=256, **kwargs) takes no cache_dir, and "
    "the runner adds the sample-quality scores every family gets",
    "concurrent_evaluation": "runs are single-threaded: concurrent_evaluation and "
    "prepare_evaluation are gone",
    "prepare_evaluation": "runs are single-threaded: prepare_evaluation is gone",
    "learning_rate_schedule": "compile_for_training(settings) receives a TrainingSettings; "
    "build optimizers with self.make_optimizer(settings)",
    "compile_for_training": "compile_for_training(settings) receives a TrainingSettings "
    "(genkeras.models.base); build optimizers with self.make_optimizer(settings)",
    "genkeras.options": "option() is imported from genkeras.models.config",
    "genkeras.training": "the run lifecycle is genkeras.run (run, plan_run, execute)",
    "genkeras.run_config": "RunConfig is in genkeras.run.config",
    "genkeras.metrics": "the sample-quality helpers are in genkeras.evaluation (coverage, "
    "classifier, samples)",
    "genkeras.callbacks": "the run's callbacks are in genkeras.run.callbacks",
    "genkeras.checkpoint": "checkpoints are in genkeras.run.checkpoint",
    "genkeras.distributed": "strategies are in genkeras.run.distribute",
    "genkeras.em": "EM is in genkeras.mixture.em",
    "'RunConfig' object is not subscriptable": "RunResult.config is a RunConfig: read its "
    "fields as attributes (result.config.epochs)",
}


def migration_hint(error: str) -> str:
    """The changes an error's text points at, as one sentence (``""`` if none)."""
    changes = [text for name, text in MIGRATIONS.items() if name in error]
    if not changes:
        return ""
    return (
        f" (plugin API {PLUGIN_API}: {'; '.join(changes)}; see 'Migrating a plugin' in the "
        "plugin guide)"
    )


def check_declared(component) -> str | None:
    """Why a component that declares ``plugin_api`` cannot be used here (``None``: it can)."""
    declared = getattr(component, "plugin_api", PLUGIN_API)
    if declared == PLUGIN_API:
        return None
    if isinstance(declared, int) and declared < PLUGIN_API:
        changed = "; ".join(dict.fromkeys(MIGRATIONS.values()))
        return (
            f"it targets plugin API {declared}, and this genkeras offers {PLUGIN_API}; what "
            f"changed: {changed} (see 'Migrating a plugin' in the plugin guide)"
        )
    return (
        f"it targets plugin API {declared!r}; this genkeras offers {PLUGIN_API}: upgrade genkeras"
    )
