"""Entry point of the warm template: `python .../warm_worker/__main__.py CTRL_FD [--namespaces [PATH...]]`.

chain starts this file by path under the task's interpreter, never as `-m chain...`: the template must
import nothing of chain (a task may even have a package of that name), only pytest and chain's report
plugin. So this file loads its own directory as a package under a private name and hands over to it.
"""

import importlib
import importlib.util
import os
import sys

PACKAGE = "_chain_warm_worker"


def load_package():
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location(
        PACKAGE, os.path.join(here, "__init__.py"), submodule_search_locations=[here]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    spec.loader.exec_module(package)
    return package


if __name__ == "__main__":
    sys.path.pop(0)  # this script's directory must not shadow the task's modules
    load_package()
    importlib.import_module(PACKAGE + ".template").main(sys.argv[1:])
