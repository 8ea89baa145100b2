"""The offload model of ./buddy reproduce and buddy-advise: log-linear in the ratio.

ln(speedup) = a + b * ln(ratio), fitted by least squares to the five apps' points of msg_ratio.csv
(ratio: mem_bytes_per_msg_byte; speedup: inline_s / offload_s, both measured on this machine).
The fit's R^2 (in ln space) and its residual standard deviation are its confidence: a prediction
is the model's speedup times / divided by exp(residual_sd). model.json holds the coefficients,
the points they came from, and the fastest engine knobs of the sweeps (buffer KB, sends in flight,
engine threads) for the recommended offload configuration.
"""
import json
import math

FORMAT = "buddy-offload-model-1"


def fit(points):
    """points: [(ratio, speedup), ...] with both > 0. Returns {a, b, r2, residual_sd, n}."""
    pts = [(math.log(r), math.log(s)) for r, s in points if r > 0 and s > 0]
    n = len(pts)
    if n < 2:
        raise ValueError("the model needs at least two apps with a ratio and a speedup")
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    b = sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx > 0 else 0.0
    a = my - b * mx
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in pts)
    ss_tot = sum((y - my) ** 2 for _, y in pts)
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
    sd = math.sqrt(ss_res / (n - 2)) if n > 2 else 0.0
    return {"a": a, "b": b, "r2": r2, "residual_sd": sd, "n": n}


def predict(model, ratio):
    """The predicted offload speedup (inline time / offload time) at ratio, and its band."""
    if ratio <= 0:
        raise ValueError("the ratio must be positive")
    s = math.exp(model["a"] + model["b"] * math.log(ratio))
    spread = math.exp(model.get("residual_sd", 0.0))
    return s, s / spread, s * spread


def recommend(model, ratio):
    """'offload' when the predicted speedup is above 1, else 'inline'; and the confidence."""
    s, lo, hi = predict(model, ratio)
    mode = "offload" if s > 1.0 else "inline"
    if lo > 1.0 or hi < 1.0:
        confidence = "high" if model.get("r2", 0) >= 0.7 else "medium"
    else:
        confidence = "low"  # the band of the fit straddles 1
    return mode, confidence


def load(path):
    """Reads model.json; ValueError with one line on a file that is not a model."""
    with open(path) as f:
        m = json.load(f)
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} file")
    for k in ("a", "b", "r2", "residual_sd"):
        if not isinstance(m.get(k), (int, float)):
            raise ValueError(f"{path}: field '{k}' missing or not a number")
    return m


def write(path, coeffs, points, knobs, machine):
    m = {"format": FORMAT, "formula": "ln(speedup) = a + b * ln(mem_bytes_per_msg_byte)"}
    m.update(coeffs)
    m["points"] = [{"app": app, "ratio": r, "speedup": s} for app, r, s in points]
    m["knobs"] = knobs
    m["machine"] = machine
    with open(path, "w") as f:
        json.dump(m, f, indent=1)
        f.write("\n")
    return m
