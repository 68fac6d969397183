const targets = JSON.parse(document.getElementById("report-targets").textContent);
const tip = document.getElementById("tip");
const only = document.getElementById("only");
function element(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
function showTip(word) {
  tip.replaceChildren(element("div", "word", word.textContent));
  for (const pair of word.dataset.p.split(" ")) {
    const [c, p] = pair.split(":");
    const row = element("div", "row");
    const name = element("span", "name");
    name.append(
      element("span", c === "0" ? "sw none" : "sw t" + (c - 1)),
      c === "0" ? "none" : targets[c - 1],
    );
    row.append(name, element("b", "", p));
    tip.append(row);
  }
  if (word.dataset.more) {
    tip.append(element("div", "more", "… and " + word.dataset.more + " more targets"));
  }
  tip.hidden = false;
  const box = word.getBoundingClientRect();
  const below = box.bottom + 6 + tip.offsetHeight < innerHeight;
  tip.style.left = Math.max(4, Math.min(box.left, innerWidth - tip.offsetWidth - 4)) + "px";
  tip.style.top = (below ? box.bottom + 6 : box.top - 6 - tip.offsetHeight) + "px";
}
document.addEventListener("mouseover", (event) => {
  const word = event.target.closest && event.target.closest(".w");
  if (word) showTip(word);
  else tip.hidden = true;
});
function applyFilter() {
  for (const word of document.querySelectorAll(".w[data-t]")) {
    word.classList.toggle("off", only.value !== "" && word.dataset.t !== only.value);
  }
  for (const pick of document.querySelectorAll(".pick")) {
    pick.classList.toggle("on", pick.dataset.pick === only.value);
  }
}
const forLabel = document.getElementById("for");
// A word's probability for class c, from its tooltip's pairs or its other kept targets.
function weightOf(word, c) {
  for (const list of [word.dataset.p, word.dataset.w]) {
    for (const pair of (list || "").split(" ")) {
      const [k, p] = pair.split(":");
      if (k === c) return Number(p);
    }
  }
  return 0;
}
function applyLabelView() {
  const c = forLabel.value === "" ? "" : String(Number(forLabel.value) + 1);
  document.body.classList.toggle("label-view", c !== "");
  for (const doc of document.querySelectorAll(".doc")) {
    const words = [...doc.querySelectorAll(".w")];
    const weights = words.map((word) => (c === "" ? 0 : weightOf(word, c)));
    const most = Math.max(0, ...weights);
    words.forEach((word, i) => {
      word.classList.toggle("for", weights[i] > 0);
      word.style.setProperty("--w", most > 0 ? (weights[i] / most).toFixed(3) : "0");
    });
  }
}
only.addEventListener("change", () => {
  forLabel.value = "";
  applyLabelView();
  applyFilter();
});
forLabel.addEventListener("change", () => {
  only.value = "";
  applyFilter();
  applyLabelView();
});
for (const pick of document.querySelectorAll(".pick")) {
  pick.addEventListener("click", () => {
    only.value = only.value === pick.dataset.pick ? "" : pick.dataset.pick;
    forLabel.value = "";
    applyLabelView();
    applyFilter();
  });
}
for (const [id, open] of [["expand", true], ["collapse", false]]) {
  document.getElementById(id).addEventListener("click", () => {
    for (const doc of document.querySelectorAll(".doc")) doc.open = open;
  });
}
