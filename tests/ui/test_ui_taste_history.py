"""Taste Wrapped over time in a real browser (Chromium via Playwright, the static UI served as is): the
path through time on the map and the radar then vs now with a reference point's overlay."""

from __future__ import annotations

from ui_helpers import evaluate_module, open_page


def test_the_map_draws_the_path_through_time_inside_the_chart_with_named_axes(browser, static_server):
    with open_page(browser, static_server, "/#/login", ready="login-form") as (page, _):
        result = evaluate_module(page, "/js/charts.js", """
            const points = [
              {kind: "you", label: "You", x: 0.4, y: 0.1},
              {kind: "average", label: "Average viewer", x: -0.2, y: 0.3},
              {kind: "critic", label: "Critic consensus", x: 0.1, y: 0.5},
            ];
            const path = [{day: "2026-12-01", x: -0.9, y: -0.8}, {day: "2026-12-02", x: 0.0, y: -0.2},
                          {day: "2026-12-03", x: 0.35, y: 0.05}];
            const picked = [];
            const svg = m.tasteMap(points, {width: 600, height: 400, path, onAnchor: (p) => picked.push(p.kind),
              axisNames: [{negative: "Gritty Crime", positive: "Family Animation"},
                          {negative: "Quiet Dramas", positive: "Space Adventures"}]});
            document.body.append(svg);
            const dots = [...svg.querySelectorAll("[data-testid=taste-path] .path-dot")]
              .map((c) => ({x: +c.getAttribute("cx"), y: +c.getAttribute("cy"), day: c.dataset.day}));
            const line = svg.querySelector(".path-line").getAttribute("points").trim().split(" ").length;
            svg.querySelector(".map-point[data-kind=critic]").dispatchEvent(new MouseEvent("click"));
            const axes = [...svg.querySelectorAll(".map-axis")].map((t) => t.textContent);
            return {dots, line, picked, axes, now: !!svg.querySelector(".path-now"),
                    then: svg.querySelector(".path-label").textContent};
        """)
        assert [d["day"] for d in result["dots"]] == ["2026-12-01", "2026-12-02", "2026-12-03"]
        assert all(0 < d["x"] < 600 and 0 < d["y"] < 400 for d in result["dots"])
        assert result["dots"][0]["x"] < result["dots"][2]["x"] and result["dots"][0]["y"] > result["dots"][2]["y"]
        assert result["line"] == 3 and result["now"] and result["then"] == "then · 2026-12-01"
        assert result["picked"] == ["critic"]
        assert result["axes"] == ["← Gritty Crime", "Family Animation →", "← Quiet Dramas", "Space Adventures →"]


def test_the_radar_overlays_then_now_and_a_reference_point_on_one_scale(browser, static_server):
    with open_page(browser, static_server, "/#/login", ready="login-form") as (page, _):
        result = evaluate_module(page, "/js/charts.js", """
            const axes = ["Drama", "Comedy", "Thriller", "Action", "Crime"];
            const series = [
              {key: "then", label: "You on 2026-12-01", cls: "series-then", values: [0.1, -0.2, 0.4, 0.2, 0.5]},
              {key: "now", label: "You now", cls: "series-now", values: [0.1, 0.3, -0.1, 0.2, -0.2]},
              {key: "average_viewer", label: "Average viewer", cls: "series-average", values: [0, 0, 0, 0, 0]},
            ];
            const svg = m.compareRadar(axes, series, {extent: 0.5});
            document.body.append(svg);
            const box = svg.viewBox.baseVal;
            const cx = box.width / 2, cy = box.height / 2, r = 160;
            const radius = (key, i) => {
              const [x, y] = svg.querySelector(`polygon[data-series=${key}]`).getAttribute("points")
                .split(" ")[i].split(",").map(Number);
              return Math.hypot(x - cx, y - cy) / r;
            };
            return {
              kinds: [...svg.querySelectorAll("polygon[data-series]")].map((p) => p.dataset.series),
              labels: [...svg.querySelectorAll(".radar-label")].map((t) => t.textContent),
              crimeThen: radius("then", 4), crimeNow: radius("now", 4), average: radius("average_viewer", 0),
            };
        """)
        assert result["kinds"] == ["then", "now", "average_viewer"]
        assert result["labels"] == ["Drama", "Comedy", "Thriller", "Action", "Crime"]
        assert abs(result["average"] - 0.5) < 1e-6  # no lean = the middle ring
        assert result["crimeThen"] > 0.5 > result["crimeNow"]  # leaned toward Crime then, away now
