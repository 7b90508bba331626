"""Target: application markers through pyusdt.mark(), and what
pyusdt.marking() says.  Calls with arguments that are not str must raise
TypeError and fire nothing, traced or not."""
import pyusdt


def main():
    print("marking=%s" % pyusdt.marking())
    for request in range(7):
        pyusdt.mark("request", "id=%d" % request)
    pyusdt.mark("phase")
    pyusdt.mark(name="keyword", detail="d\u00e9tail \u2603")
    rejected = 0
    for bad in ((1,), ("name", b"detail"), (None, "detail")):
        try:
            pyusdt.mark(*bad)
        except TypeError:
            rejected += 1
    print("rejected=%d" % rejected)


main()
