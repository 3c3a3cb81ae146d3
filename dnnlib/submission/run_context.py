"""RunContext: bookkeeping for the run in progress (run.txt, abort requests, timing)."""

import datetime
import os
import pprint
import time
from typing import Any

# The one live RunContext of this process (NVIDIA's code reaches it through RunContext.get()).
_run_context = None
active_config = None  # The SubmitConfig of the run function running now (dnnlib.submit_config), else None.


def _write_run_txt(run_dir: str, data: dict) -> None:
    # Same layout as NVIDIA's run.txt: a pprint of the dict.
    with open(os.path.join(run_dir, 'run.txt'), 'w') as f:
        pprint.pprint(data, stream=f, indent=4, width=200, compact=False)


class RunContext:
    """Tracks the current run: writes run.txt (task_name, host_name, start_time, later stop_time),
    notices an 'abort.txt' dropped into the run dir, and measures time between update() calls.

    Only one can be alive at a time; code inside a run gets it with RunContext.get().
    Works without a submit config too (no run dir: nothing is written and nothing can abort it).
    """

    def __init__(self, submit_config: Any = None, config_module: Any = None):
        global _run_context
        if _run_context is not None:
            raise RuntimeError('A RunContext is already active in this process; use RunContext.get()')
        if config_module is not None:
            print('RunContext: the config_module argument is no longer supported and is ignored.')
        _run_context = self
        self.submit_config = submit_config
        self.should_stop_flag = False
        self.has_closed = False
        self.start_time = time.time()
        self.last_update_time = self.start_time
        self.last_update_interval = 0.0
        self.progress_monitor_file_path = None
        self.run_dir = getattr(submit_config, 'run_dir', None) if submit_config is not None else None
        self.run_txt_data = {
            'task_name': getattr(submit_config, 'task_name', None) if submit_config is not None else None,
            'host_name': getattr(submit_config, 'host_name', None) if submit_config is not None else None,
            'start_time': datetime.datetime.now().isoformat(sep=' '),
        }
        if self.run_dir is not None:
            _write_run_txt(self.run_dir, self.run_txt_data)

    def __enter__(self) -> 'RunContext':
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        self.close()

    def update(self, loss: Any = 0, cur_epoch: Any = 0, max_epoch: Any = None) -> None:
        """Call now and then from the loop (not every step). The arguments are accepted for
        compatibility and not used."""
        if self.has_closed:
            raise RuntimeError('RunContext.update() after close()')
        now = time.time()
        self.last_update_interval = now - self.last_update_time
        self.last_update_time = now
        # Creating <run_dir>/abort.txt is the way to ask a running job to stop cleanly.
        if self.run_dir is not None and os.path.exists(os.path.join(self.run_dir, 'abort.txt')):
            self.should_stop_flag = True

    def should_stop(self) -> bool:
        """Whether a stop was requested (abort.txt)."""
        return self.should_stop_flag

    def get_time_since_start(self) -> float:
        return time.time() - self.start_time

    def get_last_update_interval(self) -> float:
        """Seconds between the two most recent update() calls."""
        return self.last_update_interval

    def close(self) -> None:
        """Record stop_time in run.txt and release the singleton. Later calls do nothing."""
        global _run_context
        if self.has_closed:
            return
        self.has_closed = True
        self.run_txt_data['stop_time'] = datetime.datetime.now().isoformat(sep=' ')
        if self.run_dir is not None:
            _write_run_txt(self.run_dir, self.run_txt_data)
        if _run_context is self:
            _run_context = None

    @staticmethod
    def get() -> 'RunContext':
        """The live RunContext, created for dnnlib.submit_config if there is none yet."""
        if _run_context is not None:
            return _run_context
        return RunContext(active_config)
