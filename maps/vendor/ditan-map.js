/* ditan map controls (part of ditan, MIT licence; not third-party code).
 * The unit-colouring selector with the active scheme's legend, swatches in the layer control,
 * and legends shown while their layer is on. Every label and legend row arrives from Python
 * already HTML-escaped; data values are never inserted here.
 */
(function () {
  "use strict";

  function show(el, on) { el.style.display = on ? "" : "none"; }

  window.ditanMap = function (map, units, control, cfg, toggled) {
    // swatches before the layer names of the layer control (its rows are rebuilt on every update)
    var addItem = control._addItem;
    control._addItem = function (obj) {
      var label = addItem.call(this, obj), sw = cfg.swatches[obj.name];
      if (sw) {
        var span = document.createElement("span"), holder = label.firstChild;
        span.className = "ditan-swatch";
        if (sw.lastIndexOf("<svg", 0) === 0) {  // an icon: as an image, so its letter is not part of the label's text
          span.style.backgroundImage = 'url("data:image/svg+xml;charset=utf-8,' + encodeURIComponent(sw) + '")';
          span.className += " ditan-swatch-icon";
        } else {
          span.innerHTML = sw;
        }
        holder.insertBefore(span, holder.childNodes[1]);
      }
      return label;
    };
    control._update();

    var box, select, body;
    var legend = L.control({ position: "bottomleft" });
    legend.onAdd = function () {
      box = L.DomUtil.create("div", "ditan-legend leaflet-control");
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      var title = L.DomUtil.create("div", "ditan-title", box);
      title.innerHTML = cfg.title;
      select = L.DomUtil.create("select", "ditan-select", box);
      select.setAttribute("aria-label", cfg.title);
      cfg.schemes.forEach(function (s, i) {
        var opt = document.createElement("option");
        opt.value = String(i);
        opt.innerHTML = s.label;
        select.appendChild(opt);
      });
      body = L.DomUtil.create("div", "ditan-body", box);
      if (cfg.basemap) {  // e.g. GCJ-02 tiles: the features are shifted on screen only
        L.DomUtil.create("div", "ditan-basemap-note", box).innerHTML = cfg.basemap;
      }
      L.DomEvent.on(select, "change", function () { apply(Number(select.value)); });
      return box;
    };
    legend.addTo(map);

    function styler(s) {
      return function (feature) {
        var c = feature.properties[s.key];
        return c === null || c < 0 ? cfg.nodata : Object.assign({}, cfg.unit, { fillColor: s.colors[c] });
      };
    }

    function apply(i) {
      var s = cfg.schemes[i];
      select.value = String(i);
      units.options.style = styler(s);
      units.eachLayer(function (layer) {
        units.resetStyle(layer);
        if (layer._path) {
          var c = layer.feature.properties[s.key];
          (c === null || c < 0 ? L.DomUtil.addClass : L.DomUtil.removeClass)(layer._path, cfg.nodata.className);
        }
      });
      body.innerHTML = s.legend;
      box.setAttribute("data-scheme", s.key);
    }
    apply(cfg.active);

    // legends of other layers (land use …), visible while the layer is on
    cfg.legends.forEach(function (html, j) {
      var layer = toggled[j], div = L.DomUtil.create("div", "ditan-extra", box);
      div.innerHTML = html;
      show(div, map.hasLayer(layer));
      map.on("overlayadd overlayremove", function (e) {
        if (e.layer === layer) { show(div, e.type === "overlayadd"); }
      });
    });
    window.ditan = { map: map, units: units, control: control, apply: apply };
  };
})();
