// The supervision page's charts (Apache ECharts, served from /static/vendor/echarts): the 12-month trend by
// province against the listings swept, the regions ranked, and the network of linked seller accounts. The data
// comes from the page itself (#supervision-data), already computed by the server: nothing here counts anything.
"use strict";
(function () {
  const holder = document.getElementById("supervision-data");
  if (!holder || typeof echarts === "undefined") return;
  const data = JSON.parse(holder.dataset.chart);
  const words = JSON.parse(holder.dataset.words);
  const font = { fontFamily: "system-ui, 'Noto Sans CJK SC', sans-serif" };
  const draw = (id, option) => {
    const el = document.getElementById(id);
    if (!el) return;
    const chart = echarts.init(el, null, { renderer: "svg" });
    chart.setOption(Object.assign({ textStyle: font, animation: false }, option));
    window.addEventListener("resize", () => chart.resize());
  };
  const name = (key) => (key === "" ? words.unplaced : key === "other" ? words.other : data.labels[key] || key);
  const trend = data.trend;
  const provinces = Object.keys(trend.province.series);
  draw("trend-chart", {
    tooltip: { trigger: "axis" },
    legend: { type: "scroll", bottom: 0 },
    grid: { left: 48, right: 56, top: 24, bottom: 56 },
    xAxis: { type: "category", data: trend.months },
    yAxis: [
      { type: "value", name: words.hits, nameTextStyle: { align: "left" }, minInterval: 1 },
      { type: "value", name: words.swept, nameTextStyle: { align: "right" }, minInterval: 1, splitLine: { show: false } },
    ],
    series: provinces
      .map((key) => ({ name: name(key), type: "line", stack: "hits", areaStyle: {}, data: trend.province.series[key] }))
      .concat([{ name: words.swept, type: "line", yAxisIndex: 1, lineStyle: { type: "dashed" }, data: trend.swept_listings }]),
  });
  const regions = data.regions.slice().reverse();
  draw("regions-chart", {
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    grid: { left: 160, right: 32, top: 8, bottom: 24 },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", data: regions.map((r) => r.label || words.unplaced) },
    series: [{ name: words.hits, type: "bar", data: regions.map((r) => r.hits) }],
  });
  const nodes = [];
  const links = [];
  data.entities.forEach((entity, i) => {
    entity.accounts.forEach((a) => {
      nodes.push({ id: String(a.seller_id), name: a.seller_key + "@" + a.marketplace, category: i, symbolSize: 22 });
    });
    entity.links.forEach((link) => {
      for (let j = 1; j < link.sellers.length; j++) {
        links.push({ source: String(link.sellers[0]), target: String(link.sellers[j]), value: link.kind });
      }
    });
  });
  draw("entities-chart", {
    tooltip: {},
    legend: { data: data.entities.map((e) => e.entity_id + " " + e.name), bottom: 0 },
    series: [{
      type: "graph",
      layout: "force",
      roam: true,
      label: { show: true, position: "right" },
      edgeLabel: { show: true, formatter: (p) => words[p.data.value] || p.data.value },
      force: { repulsion: 260, edgeLength: 140 },
      categories: data.entities.map((e) => ({ name: e.entity_id + " " + e.name })),
      data: nodes.filter((n, i) => nodes.findIndex((m) => m.id === n.id) === i),
      links: links,
    }],
  });
})();
