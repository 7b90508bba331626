"""Target: what a program sees of the frames below its own (python has
none below a script or -c, runpy's two below a -m module): a printed
stack, inspect's count, its bottom frame's f_back, and a warning whose
stacklevel goes past its frames."""
import inspect
import sys
import traceback
import warnings


def show():
    traceback.print_stack(file=sys.stdout)
    print("depth", len(inspect.stack()))


show()
below = sys._getframe().f_back
print("f_back", below and (below.f_code.co_filename, below.f_code.co_name))
warnings.warn("from the bottom", stacklevel=2)
