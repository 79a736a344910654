"""`python -m sc_viz` with test hooks, for the torchrun tests (not collected by pytest).

SCVIZ_TEST_STATE_DIR: each rank saves the weights it holds at the end to rank<R>.safetensors.
SCVIZ_TEST_FAULT=<rank>:<step>:<kill|stop>: that rank SIGKILLs or SIGSTOPs itself at its
<step>-th training step (a crashed or a hung worker).
"""

import os
import signal
import sys

import sc_viz.training.trainer as T


def main() -> int:
    rank = int(os.environ.get("RANK", "0"))
    state_dir = os.environ.get("SCVIZ_TEST_STATE_DIR")
    if state_dir:
        original = T.weights_checksum

        def checksum_and_dump(model):
            from safetensors.torch import save_file

            save_file(
                {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                os.path.join(state_dir, f"rank{rank}.safetensors"),
            )
            return original(model)

        T.weights_checksum = checksum_and_dump
    fault = os.environ.get("SCVIZ_TEST_FAULT")
    if fault:
        who, step, how = fault.split(":")
        if int(who) == rank:
            step_fn, calls = T.training_step, [0]

            def faulty(*args, **kwargs):
                calls[0] += 1
                if calls[0] == int(step):
                    print(f"rank {rank}: test fault {how} at step {step}", file=sys.stderr, flush=True)
                    os.kill(os.getpid(), signal.SIGKILL if how == "kill" else signal.SIGSTOP)
                return step_fn(*args, **kwargs)

            T.training_step = faulty
    from sc_viz.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
