"""Turn the bench results into one markdown report: tables with median /
min / max / n, ratios to the floor and the peers, and the issue's targets
marked met or missed."""


def _fmt(v, unit):
    if unit == "s":
        return f"{v:.3f} s" if v >= 1 else f"{v * 1000:.1f} ms"
    if unit == "ms":
        return f"{v * 1000:.1f} ms"
    if unit == "B":
        return f"{v / 2**20:.0f} MiB"
    if unit == "cores":
        return f"{v:.2f}"
    return f"{v:g}"


def cells(stat, unit=None):
    if isinstance(stat, str):
        return [stat, "", "", ""]
    u = unit or stat.unit
    return [_fmt(stat.median, u), _fmt(stat.min, u), _fmt(stat.max, u), str(len(stat))]


def ratio(a, b):
    if isinstance(a, str) or isinstance(b, str) or b.median == 0:
        return "n/a"
    return f"{a.median / b.median:.2f}x"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


class Target:
    """One target from issue 5: `value` compared with `limit` (<=)."""

    def __init__(self, name, value, limit, unit=""):
        self.name, self.value, self.limit, self.unit = name, value, limit, unit

    def row(self):
        if isinstance(self.value, str):
            return [self.name, self.value, self.limit_text(), "n/a"]
        ok = self.value <= self.limit
        if ok:
            verdict = "met"
        else:
            verdict = f"missed by {self.value - self.limit:{self.spec()}}{self.unit}" + \
                (f" ({self.value / self.limit:.2f}x the limit)" if self.limit else "")
        return [self.name, f"{self.value:{self.spec()}}{self.unit}", self.limit_text(), verdict]

    def spec(self):
        return ".2f" if self.unit in ("x", "") else ".1f"

    def limit_text(self):
        return f"<= {self.limit:{self.spec()}}{self.unit}"
