"""The composer's panels in Streamlit's AppTest (the canvas component itself is tested in the browser)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

import ebmgraph

from .conftest import ROOT

APP = str(ROOT / "app" / "app.py")



def _type(at: AppTest, text: str) -> None:
    """Typing in the code editor: AppTest cannot drive the component, so the text it would send."""
    at.session_state.editor = text
    at.run()


def _tab(at: AppTest, name: str) -> None:
    """Open a tab: only the open tab's panel runs (a click on a tab reruns the page)."""
    at.session_state["tab"] = name
    at.run()
    assert not at.exception, at.exception


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def _open(at: AppTest, name: str) -> None:
    at.selectbox(key="library_pick").set_value(name).run()
    at.button(key="open_library").click().run()
    assert not at.exception, at.exception


def test_starts_on_jepa_with_digits(at: AppTest) -> None:
    assert "model JEPA" in at.session_state.editor
    assert at.selectbox(key="dataset").value == "digits"
    assert at.session_state.last_good_program.models[0].name == "JEPA"
    assert not _errors(at)


def test_text_edits_update_the_graph_and_mistakes_keep_the_last_good_one(at: AppTest) -> None:
    text = at.session_state.editor
    _type(at, text.replace("energy R = 0.1 * l1(z)", "energy R = 0.5 * l1(z)"))
    body = at.session_state.last_good_program.models[0].body
    assert any(getattr(s, "name", "") == "R" and s.weight.value == 0.5 for s in body)
    _type(at, text.replace("sq_dist(sy, sy_hat)", "sq_dist(sy, sy_hatt)"))
    assert any("1 error(s) on line 18" in e for e in _errors(at))
    # every message whole, in its own wrapped box beside the text (not a clipped code block)
    assert any("jepa.ebm:18:26: error[E016]: unknown variable 'sy_hatt'" in e for e in _errors(at))
    _type(at, "model Broken { observed x R[2] }")
    # another model typed: the file name, the errors and the download follow it
    assert any(e.startswith("broken.ebm:1:") for e in _errors(at)), _errors(at)
    assert "broken.ebm" in at.caption[0].value and "not saved" in at.caption[0].value
    assert "Download broken.ebm" in [b.label for b in at.get("download_button")]
    assert at.session_state.last_good_program.models[0].name == "JEPA"  # the canvas keeps the last good graph
    assert at.session_state.editor == "model Broken { observed x R[2] }"  # nothing typed is lost


def test_canvas_edits_change_the_text_or_are_refused_by_rule(at: AppTest) -> None:
    at.session_state.canvas_ops = [{"op": "add_variable", "name": "w", "role": "latent", "shape": [4]},
                                   {"op": "connect", "source": "w", "target": "fn:sy_hat/0"}]
    at.run()
    assert "latent w : R[4]" in at.session_state.editor
    assert any("shape mismatch" in e for e in _errors(at))  # cat(sx, z, w) no longer fits pred
    assert set(at.session_state.marked) == {"w", "fn:sy_hat/0"}
    at.session_state.canvas_ops = [{"op": "connect", "source": "energy:D", "target": "energy:R"}]
    at.run()
    assert any("energy to energy" in e for e in _errors(at))
    at.session_state.canvas_ops = [{"op": "rename", "node": "sx", "name": "s_x"}]
    at.run()
    assert "cat(s_x, z)" in at.session_state.editor and "# D: prediction error" in at.session_state.editor


def test_positions_survive_text_edits(at: AppTest) -> None:
    at.session_state.positions = {"x": (10.0, 20.0), "energy:D": (300.0, 40.0)}
    at.run()
    # positions are keyed by node name, so a text edit that keeps the names keeps them
    text = at.session_state.editor
    _type(at, text.replace("energy R = 0.1 * l1(z)", "energy R = 0.2 * l1(z)"))
    assert at.session_state.positions["x"] == (10.0, 20.0)
    labels = [b.label for b in at.get("download_button")]
    assert "Download layout" in labels


def test_palette_adds_nodes(at: AppTest) -> None:
    at.selectbox(key="palette_kind").set_value("energy").run()
    at.text_input(key="palette_name").set_value("Q").run()
    at.selectbox(key="palette_energy").set_value("l2").run()
    at.button(key="palette_add").click().run()
    assert "energy Q = l2()" in at.session_state.editor


def test_drawing_inspector_and_files(at: AppTest) -> None:
    assert not any("data:image/svg+xml;base64," in m.value for m in at.markdown)  # a closed tab does not run
    _tab(at, "Drawing")
    # the drawing is the SVG at its own size (times the zoom) in a scrolling box, not stretched
    imgs = [m.value for m in at.markdown if "data:image/svg+xml;base64," in m.value]
    assert imgs and "zoom: 1.0" in imgs[0] and "max-width: none" in imgs[0]
    assert any("fillcolor=\"#e06666\"" in c.value for c in at.code)  # its DOT, energy terms in red
    _tab(at, "Inspector")
    at.selectbox(key="inspect_node").set_value("variable sx").run()
    table = at.table[0].value
    rows = dict(zip(table["property"], table["value"], strict=True))
    assert rows["role"] == "computed" and rows["domain"] == "R[32]" and rows["parameters"] == str(64 * 128 + 128 +
                                                                                                   128 * 32 + 32)
    assert "D" in rows["energy terms touching it"]
    _open(at, "planner.ebm")
    assert "model Planner" in at.session_state.editor
    _open(at, "hjepa.ebm")
    at.selectbox(key="submodel_pick").set_value("hi").run()
    at.button(key="open_submodel").click().run()
    assert "model JEPA" in at.session_state.editor  # the folded sub-model, opened
    at.button(key="back").click().run()
    assert "model HJEPA" in at.session_state.editor


def test_inference_panel_plots_the_landscape(at: AppTest) -> None:
    _open(at, "ellipse.ebm")
    _tab(at, "Inference")
    at.selectbox(key="dataset").set_value("moons").run()
    at.button(key="run_inference").click().run()
    assert not at.exception, at.exception
    assert at.metric[0].label == "free energy F"
    assert float(at.metric[0].value) >= 0
    assert at.get("imgs") or at.get("pyplot") or at.get("image")
    table = at.table[0].value  # the inferred values as a table, not raw JSON
    assert list(table.columns) == ["variable", "domain", "value"] and list(table["variable"]) == ["z"]
    assert list(table["domain"]) == ["R[1] in box(-3.1416, 3.1416)"] and -3.2 < float(table["value"][0]) < 3.2


def test_training_panel_trains_and_reports(at: AppTest) -> None:
    _open(at, "joint_embedding.ebm")
    _tab(at, "Training")
    at.selectbox(key="train_reg").set_value("vicreg").run()
    at.number_input(key="train_epochs").set_value(1).run()
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    assert any("trained" in s.value for s in at.success)
    assert at.session_state.history and at.session_state.checkpoint


def test_bad_data_mapping_and_divergence_are_messages(at: AppTest) -> None:
    _open(at, "regression.ebm")
    _tab(at, "Training")
    at.text_input(key="map_x").set_value("data[:, 0:3]").run()
    at.button(key="train_start").click().run()
    assert any("has rows of shape (3,)" in e and "'x' is R[8]" in e for e in _errors(at))
    at.text_input(key="map_x").set_value("data[:, 0:8]").run()
    at.text_input(key="map_y").set_value("data[:, 8:10]").run()
    at.number_input(key="train_divergence").set_value(1e-3).run()
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    assert any("step 0: the loss" in e and "exceeds divergence" in e and "Lower optimizer.lr" in e for e in _errors(at))
    assert "model Regression" in at.session_state.editor  # the app keeps working


def test_a_refusal_stays_until_the_next_action(at: AppTest) -> None:
    at.session_state.canvas_ops = [{"op": "connect", "source": "energy:D", "target": "energy:R"}]
    at.run()
    assert any("energy to energy" in e for e in _errors(at))
    at.run()  # reruns that are no action (a drag, a click on the canvas' pane) keep it
    at.run()
    assert any("energy to energy" in e for e in _errors(at))
    assert set(at.session_state.marked) == {"energy:D", "energy:R"}
    text = at.session_state.editor
    _type(at, text.replace("0.1 * l1(z)", "0.2 * l1(z)"))  # the next action
    assert not any("energy to energy" in e for e in _errors(at))


def test_inference_refuses_data_of_another_width_naming_both(at: AppTest) -> None:
    _open(at, "ellipse.ebm")  # y : R[2]; the dataset is still the digits (64 values a row)
    _tab(at, "Inference")
    errors = _errors(at)
    assert any("the dataset 'digits' has 64 values per row but 'y' is R[2] (2 values)" in e and "data[:, 0:2]" in e
               for e in errors), errors
    assert not any(b.key == "run_inference" for b in at.button)  # nothing runs on data that does not fit


def test_results_are_marked_stale_when_their_inputs_change(at: AppTest) -> None:
    _open(at, "ellipse.ebm")
    _tab(at, "Inference")
    at.selectbox(key="dataset").set_value("moons").run()
    at.button(key="run_inference").click().run()
    assert not any("stale" in w.value for w in at.warning)
    at.slider(key="infer_sample").set_value(3).run()
    assert any("stale" in w.value for w in at.warning)
    at.button(key="run_inference").click().run()
    assert not any("stale" in w.value for w in at.warning)


def test_save_writes_the_opened_file_atomically_keeping_its_mode(at: AppTest, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "jepa.ebm"
    target.write_text(at.session_state.editor)
    target.chmod(0o640)
    at.session_state.file_path = str(target)  # as `streamlit run app/app.py -- jepa.ebm` opens it
    at.run()
    text = at.session_state.editor.replace("0.1 * l1(z)", "0.3 * l1(z)")
    _type(at, text)
    at.button(key="save_file").click().run()
    assert target.read_text() == text
    assert (target.stat().st_mode & 0o777) == 0o640
    assert not [p for p in tmp_path.iterdir() if p.name != "jepa.ebm"]  # no temporary file left
    assert any(f"saved {target}" in s.value for s in at.success)


def test_the_app_names_only_declared_session_keys() -> None:
    import re

    from app.state import STATE, WIDGETS
    used: set[str] = set()
    for f in (ROOT / "app").rglob("*.py"):
        src = f.read_text()
        used |= set(re.findall(r"\bss\.([a-z_]+)\b", src)) - {"get", "pop"}
        used |= set(re.findall(r"ss\.(?:get|pop)\(\"([a-z_]+)\"", src))
        used |= set(re.findall(r"key=f?\"([a-z_]+)", src))
    undeclared = sorted(k for k in used if k not in STATE and k not in WIDGETS)
    assert not undeclared, f"declare these in app/state.py: {undeclared}"


README_ELLIPSE = (ROOT / "README.md").read_text().split("Write `ellipse.ebm`:\n\n```\n")[1].split("```")[0]


def test_the_palette_builds_the_readme_ellipse_from_an_empty_model(at: AppTest) -> None:
    """Every statement of the README's first model from the palette's forms; the two
    connections as the canvas makes them (AppTest cannot drag; the browser test does)."""
    at.selectbox(key="palette_kind").set_value("new model").run()
    at.text_input(key="palette_name").set_value("Ellipse").run()
    at.text_input(key="palette_params").set_value("r1 = 1.0, r2 = 2.0").run()
    at.text_area(key="palette_comment").set_value(
        "# E(y, z) = (y1 - r1 sin z)^2 + (y2 - r2 cos z)^2   (Dawid & LeCun 2023, Fig. 4b)").run()
    at.button(key="palette_add").click().run()
    assert at.session_state.editor.startswith("# E(y, z)")
    at.selectbox(key="palette_kind").set_value("observed").run()
    at.text_input(key="palette_name").set_value("y").run()
    at.text_input(key="palette_shape").set_value("2").run()
    at.button(key="palette_add").click().run()
    at.selectbox(key="palette_kind").set_value("latent").run()
    at.text_input(key="palette_name").set_value("z").run()
    at.text_input(key="palette_shape").set_value("1").run()
    at.text_input(key="palette_box_lo").set_value("-3.1416").run()
    at.text_input(key="palette_box_hi").set_value("3.1416").run()
    at.selectbox(key="palette_infer").set_value("minimize").run()
    at.selectbox(key="palette_infer_optimizer").set_value("adam").run()
    for k, v in (("steps", "60"), ("lr", "0.2"), ("restarts", "8")):
        at.text_input(key=f"palette_infer_{k}").set_value(v).run()
    at.button(key="palette_add").click().run()
    at.selectbox(key="palette_kind").set_value("function").run()
    at.selectbox(key="palette_function").set_value("ellipse").run()
    at.text_input(key="palette_name").set_value("y_hat").run()
    at.text_input(key="palette_fn_name").set_value("dec").run()
    at.text_input(key="palette_opt_r1").set_value("r1").run()
    at.text_input(key="palette_opt_r2").set_value("r2").run()
    at.button(key="palette_add").click().run()
    at.selectbox(key="palette_kind").set_value("energy").run()
    at.selectbox(key="palette_energy").set_value("sq_dist").run()
    at.text_input(key="palette_name").set_value("E").run()
    at.button(key="palette_add").click().run()
    # composing is not an error: the drawing shows what is there, and the next step is named
    infos = [i.value for i in at.info]
    assert any(i.startswith("Next step: ") and "connect 1 more input to 'y_hat'" in i for i in infos), infos
    assert any("connect 2 more inputs to 'E'" in i for i in infos), infos
    _tab(at, "Drawing")
    assert any("data:image/svg+xml;base64," in m.value for m in at.markdown)
    _tab(at, "Inference")
    assert any(i.value.startswith("inference waits for a complete model") for i in at.info), at.info
    assert not _errors(at), _errors(at)
    assert not at.exception, at.exception  # nothing runs on the incomplete model
    at.session_state.canvas_ops = [{"op": "connect", "source": "z", "target": "fn:y_hat"},
                                   {"op": "connect", "source": "y", "target": "energy:E"},
                                   {"op": "connect", "source": "y_hat", "target": "energy:E"}]
    at.run()
    assert not at.exception, at.exception
    assert at.session_state.editor == README_ELLIPSE
    assert at.caption[0].value.startswith("ellipse.ebm")
    assert not any(i.value.startswith("Next step") for i in at.info)  # complete: nothing waits


def test_a_latent_typed_before_its_energy_is_a_next_step_not_a_crash(at: AppTest) -> None:
    text = at.session_state.editor
    _type(at, text.replace("  latent z", "  latent w0 : R[2]\n  latent z", 1))
    assert not at.exception, at.exception
    assert any(i.value.startswith("Next step: latent 'w0' is not touched") for i in at.info)
    assert not _errors(at)


def test_the_inspector_edits_the_selected_node_in_place(at: AppTest) -> None:
    _tab(at, "Inspector")
    at.selectbox(key="inspect_node").set_value("variable z").run()
    steps = at.text_input(key="inspect_infer_z_minimize_steps")
    assert steps.value == "20"  # the fields start from the text's own options
    steps.set_value("33").run()
    at.button(key="inspect_infer_go").click().run()
    assert not at.exception, at.exception
    assert "infer minimize(optimizer = adam, steps = 33, lr = 0.1)" in at.session_state.editor
    at.text_input(key="inspect_rename").set_value("code").run()
    at.button(key="inspect_rename_go").click().run()
    text = at.session_state.editor
    assert "latent code : R[dz]" in text and "cat(sx, code)" in text and "l1(code)" in text


def test_a_canvas_edit_reaches_the_editor_in_place_and_is_said_in_words(at: AppTest) -> None:
    """The code editor is not made anew for a text the app sets (no new frame, no reload of Ace): its
    `code` argument changes and it resets to it; the confirmation names the nodes in words."""
    at.session_state.canvas_ops = [{"op": "rename", "node": "sx", "name": "s_x"}]
    at.run()
    assert "cat(s_x, z)" in at.session_state.editor
    assert at.session_state.editor_code == at.session_state.editor
    assert [s.value for s in at.success] == ["renamed 'sx' to 's_x'"]
    at.session_state.canvas_ops = [{"op": "disconnect", "source": "z", "target": "energy:R"}]
    at.run()
    assert "energy R = 0.1 * l1()" in at.session_state.editor
    assert [s.value for s in at.success] == ["disconnected 'z' from energy term 'R'"]


def test_a_text_the_editor_had_but_was_typed_over_still_reaches_it(at: AppTest) -> None:
    """Opening the same file again after typing: the text is the one the editor was last given, so it
    is given with one more newline (the argument must change for the editor to reset in place)."""
    original = at.session_state.editor
    _type(at, original.replace("0.1 * l1(z)", "0.4 * l1(z)"))
    _open(at, "jepa.ebm")
    assert at.session_state.editor == original
    assert at.session_state.editor_code == original + "\n"
    _type(at, original.replace("0.1 * l1(z)", "0.4 * l1(z)"))
    _open(at, "jepa.ebm")
    assert at.session_state.editor == original == at.session_state.editor_code


def test_describe_names_every_canvas_edit_in_words() -> None:
    from app.canvas import describe
    assert describe({"op": "connect", "source": "w", "target": "energy:Q"}) == "connected 'w' to energy term 'Q'"
    assert describe({"op": "delete", "node": "use:lo"}) == "deleted sub-model 'lo'"
    assert describe({"op": "rename", "node": "sx", "name": "s_x"}) == "renamed 'sx' to 's_x'"
    assert describe({"op": "add_energy", "name": "E", "energy": "sq_dist", "args": ["y", "y_hat"]}) == \
        "added energy term 'E' = sq_dist(y, y_hat)"


def test_the_planning_panel_runs_an_episode_and_shows_plan_terms_and_returns(
        at: AppTest, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("EBMGRAPH_RUNS", str(tmp_path))
    _tab(at, "Planning")
    at.selectbox(key="plan_agent").set_value("pendulum.toml").run()
    assert not at.exception, at.exception
    at.button(key="plan_quick").click().run()  # a quick run, saved where EBMGRAPH_RUNS says
    assert not at.exception, at.exception
    assert (tmp_path / "app_pendulum" / "agent_state.pt").exists()
    radio = at.radio(key="plan_source")
    quick_source = next(o for o in radio.options if o.startswith("quick run"))
    radio.set_value(quick_source).run()
    at.button(key="plan_run").click().run()
    assert not at.exception, at.exception
    shown = at.session_state["plan_detail"]["detail"]
    # the quick run's episodes are 20 steps; a plan is T + 1 = 6 predicted states of 3 entries
    assert len(shown["reward"]) == 20 and len(shown["plans"][0]) == 6 and len(shown["plans"][0][0]) == 3
    assert set(shown["terms"]) == {"C", "U", "V"} and all(len(v) == 20 for v in shown["terms"].values())
    assert [m.value for m in at.metric] == [f"{sum(shown['reward']):.1f}"]
    at.slider(key="plan_step").set_value(7).run()  # the plan made at step 7, drawn beside the visited states
    assert not at.exception, at.exception
    figures = at.get("imgs") or at.get("pyplot") or at.get("image")
    assert len(figures) == 2, figures  # the episode, and the run's evaluation returns
    # the run's scores (results.json's "scores"): each agent's mean ± standard error over the held-out starts
    import json

    import numpy as np
    res = json.loads((tmp_path / "app_pendulum" / "results.json").read_text())
    table = at.table[0].value
    assert list(table["agent"]) == ["Mode-2 (planning)", "random actions", "Mode-1 (the actor)"]
    for name, shown_return in zip(("mode2", "random", "mode1"), table["return"], strict=True):
        rets = res["scores"][name]["returns"]
        assert len(rets) == 2  # the quick run's two held-out starts
        assert shown_return == f"{np.mean(rets):.1f} ± {np.std(rets, ddof=1) / np.sqrt(len(rets)):.1f}"
    assert list(table["episodes"]) == [2, 2, 2]
    assert any("mean return ± standard error over the 2 held-out starts" in c.value for c in at.caption)
    # a run of an older version (its results.json without scores) is said, not a crash
    (tmp_path / "app_pendulum" / "results.json").write_text(json.dumps({"eval_returns": [-1.0], "random_return": -2.0}))
    at.run()
    assert not at.exception, at.exception
    assert not at.table and any("has no scores over held-out starts" in c.value for c in at.caption)


def test_the_planning_panel_shows_a_pixel_agents_run_and_a_held_out_task(
        at: AppTest, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import json
    monkeypatch.setenv("EBMGRAPH_RUNS", str(tmp_path))
    _tab(at, "Planning")
    at.selectbox(key="plan_agent").set_value("tworooms.toml").run()
    assert not at.exception, at.exception
    at.button(key="plan_quick").click().run()  # a quick run from pixels, saved where EBMGRAPH_RUNS says
    assert not at.exception, at.exception
    report = json.loads((tmp_path / "app_tworooms" / "report.json").read_text())
    table = at.table[0].value
    assert list(table["planner"]) == ["flat JEPA planner", "hierarchical JEPA planner",
                                      "hierarchical, macro actions through the lower predictor",
                                      "flat, over the true state", "hierarchical, over the true state", "random actions"]
    assert list(table["tasks"]) == [2] * 6  # the quick run's two held-out tasks
    assert any(f"trained {report['probe_r2']['trained']:.3f}" in c.value for c in at.caption)
    radio = at.radio(key="plan_source")
    radio.set_value(next(o for o in radio.options if o.startswith("quick run"))).run()
    at.selectbox(key="plan_pixel_kind").set_value("hierarchical").run()
    at.button(key="plan_run").click().run()
    assert not at.exception, at.exception
    ep = at.session_state["plan_detail"]["episode"]
    assert len(ep.path) == ep.steps + 1 and len(ep.subgoals) == ep.steps  # a subgoal set at every step
    assert len(at.get("imgs") or at.get("pyplot") or at.get("image")) == 1  # the frames, the goal image, the path


def test_the_planning_panel_shows_pendulum_from_pixels_by_its_returns(
        at: AppTest, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import json
    monkeypatch.setenv("EBMGRAPH_RUNS", str(tmp_path))
    _tab(at, "Planning")
    at.selectbox(key="plan_agent").set_value("pendulum_pixels.toml").run()
    assert not at.exception, at.exception
    at.button(key="plan_quick").click().run()
    assert not at.exception, at.exception
    report = json.loads((tmp_path / "app_pendulum_pixels" / "report.json").read_text())
    table = at.table[0].value
    assert list(table["planner"]) == ["flat JEPA planner", "flat, over the true state", "random actions"]
    flat = report["planners"]["flat"]
    assert list(table["mean return"])[0] == f"{flat['mean_return']:.0f} ± {flat['stderr']:.0f}"
    assert any("(cos, sin, speed)" in c.value for c in at.caption)
    at.button(key="plan_run").click().run()
    assert not at.exception, at.exception
    ep = at.session_state["plan_detail"]["episode"]
    assert len(ep.path) == ep.steps + 1 and ep.ret < 0  # the pendulum's path of (angle, speed) and its return
    assert len(at.get("imgs") or at.get("pyplot") or at.get("image")) == 1


def test_the_planning_panel_writes_a_mean_with_its_standard_error() -> None:
    from app.panels.planning import plus_minus
    assert plus_minus({"mean": -153.26, "stderr": 12.04, "returns": [0.0, 1.0]}) == "-153.3 ± 12.0"
    assert plus_minus({"mean": 4.0, "stderr": float("nan"), "returns": [4.0]}) == "4.0"  # one start: no spread


# ---------------------------------------------------------------- serving: this machine only, unless asked
def _make_app_command(port: int) -> list[str]:
    """The command `make app PORT=<port>` runs: the Makefile's own recipe and defaults, expanded."""
    import re
    import shlex
    import sys
    from pathlib import Path
    make = (ROOT / "Makefile").read_text()
    values = dict(re.findall(r"^([A-Z_]+)\s*\??=\s*(\S*)\s*$", make, flags=re.M))
    values.update(BIN=str(Path(sys.executable).parent), PORT=str(port))  # `make app PORT=<port>`
    recipe = re.search(r"^app:.*\n\t(.+)$", make, flags=re.M)
    assert recipe, "the Makefile has no app target"
    return shlex.split(re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], recipe.group(1)))


def _listening(port: int) -> list[str]:
    """The local addresses (hex, as /proc/net/tcp{,6} write them) of the sockets listening on `port`."""
    from pathlib import Path
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            addr, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.append(addr)
    return found


def test_make_app_serves_this_machine_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`make app` (its recipe, on a free port, headless) listens on 127.0.0.1 alone: not 0.0.0.0, not ::."""
    import os
    import signal
    import socket
    import subprocess
    import time
    import urllib.request
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "streamlit.log").open("wb")
    proc = subprocess.Popen(_make_app_command(port) + ["--", "--server.headless", "true",
                                                       "--server.fileWatcherType", "none"],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300  # only so that a server that never answers ends the test
        while True:
            assert proc.poll() is None, (tmp_path / "streamlit.log").read_text()
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5).read() == b"ok":
                    break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "streamlit.log").read_text()
                time.sleep(0.5)
        bound = _listening(port)
        assert bound, f"nothing listens on port {port}"
        # 127.0.0.1 is 0100007F in /proc/net/tcp (and ::ffff:127.0.0.1 in tcp6); 0.0.0.0 or :: would be zeros
        assert all(a in ("0100007F", "0000000000000000FFFF00000100007F") for a in bound), bound
        assert "WARNING" not in (tmp_path / "streamlit.log").read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_serving_the_network_is_asked_for_and_warned_about() -> None:
    from ebmgraph.app_launch import command
    cmd, warn = command(["library/jepa.ebm"])
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1" and warn is None  # the default
    assert cmd[-2:] == ["--", "library/jepa.ebm"]
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert command(["--host", host])[1] is None, host
    for host in ("0.0.0.0", "::", "192.168.1.20", "my-machine.example.org", ""):
        cmd, warn = command(["library/jepa.ebm", "--host", host, "--port", "8600"])
        assert cmd[cmd.index("--server.address") + 1] == host and cmd[cmd.index("--server.port") + 1] == "8600"
        assert warn is not None and "WARNING" in warn, host
        for risk in ("edit and save the opened file (library/jepa.ebm)", "start training runs", "upload files"):
            assert risk in warn, (host, warn)
    assert "every network interface" in (command(["--host", "0.0.0.0"])[1] or "")
    cmd, _ = command(["m.ebm", "--", "--server.headless", "true"])  # Streamlit's own options pass through
    assert cmd[-4:] == ["--server.headless", "true", "--", "m.ebm"]
    with pytest.raises(SystemExit):  # the address is --host's alone: it cannot be widened past the warning
        command(["m.ebm", "--", "--server.address", "0.0.0.0"])
    with pytest.raises(SystemExit):
        command(["m.ebm", "--", "--server.address=0.0.0.0"])


def test_the_kmeans_landscape_marks_every_centre_and_the_assigned_one(at: AppTest) -> None:
    """Issue 27.5: the inferred assignment in the table, and on the plot the K centres (one mark
    each) with the star on the centre the sample is assigned to."""
    import torch

    from ebmgraph.plots import landscape_2d
    _open(at, "kmeans.ebm")
    _tab(at, "Inference")
    at.selectbox(key="dataset").set_value("moons").run()
    at.button(key="run_inference").click().run()
    assert not at.exception, at.exception
    assert list(at.table[0].value["variable"]) == ["z"] and at.table[0].value["value"][0] in {"0", "1", "2"}
    assert at.get("imgs") or at.get("pyplot") or at.get("image")
    torch.manual_seed(0)
    m = ebmgraph.compile(ebmgraph.loads(at.session_state.editor))
    y = torch.tensor([[0.4, -0.2]])
    r = m.free_energy(y=y)
    centres = m.fns["centers"].weight.detach().T  # (K, 2): the prototype of each value of z
    fig = landscape_2d(m, {"y": y}, "y", r.all_values["center"].detach(),
                       choices=m.partial({"y": y.expand(3, 2), "z": torch.arange(3)})["center"],
                       choice_label="center for each value of z")
    lines = {ln.get_label(): ln for ln in fig.axes[0].lines}
    marks = lines["center for each value of z"]
    torch.testing.assert_close(torch.tensor(list(zip(marks.get_xdata(), marks.get_ydata(), strict=True))), centres.double(),
                               check_dtype=False)
    star = lines["at the minimizer"]
    assigned = centres[int(r.values["z"][0])]
    assert (float(star.get_xdata()[0]), float(star.get_ydata()[0])) == pytest.approx(assigned.tolist())
