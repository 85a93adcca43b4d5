// Sanitising FHIR narrative (XHTML written by whoever made the file) before it enters the page.
// Nothing in it may run, and nothing may load from the network: no scripts or event handlers (DOMPurify's
// defaults), and no element or attribute that fetches or styles (images, SVG, MathML, frames, objects,
// forms, stylesheets, style attributes, srcset, background, ping…). Links open in a new tab without a
// Referer, or lose their href when they are not http(s).

import DOMPurify from "dompurify";

const FORBID_TAGS = [
  "style", "link", "meta", "base", "script", "noscript", "template",
  "img", "picture", "source", "image", "svg", "math", "canvas",
  "iframe", "frame", "frameset", "object", "embed", "applet", "portal",
  "video", "audio", "track", "map", "area",
  "form", "input", "button", "textarea", "select", "option", "fieldset",
  "marquee", "blink",
];
const FORBID_ATTR = [
  "style", "src", "srcset", "srcdoc", "xlink:href", "action", "formaction", "background", "poster", "ping",
  "lowsrc", "dynsrc", "data", "codebase", "cite", "longdesc", "usemap", "target",
];

const purifier = DOMPurify(window);

// An href survives only on an anchor and only as an absolute http(s) URL: no javascript:, data:, relative or
// fragment links (those would point into this page).
purifier.addHook("uponSanitizeAttribute", (node, data) => {
  if (data.attrName === "href" && !(node.nodeName === "A" && /^https?:\/\//i.test(data.attrValue.trim()))) {
    data.keepAttr = false;
  }
});

purifier.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

const CONFIG = {
  USE_PROFILES: { html: true }, // HTML only: no SVG or MathML namespaces at all
  FORBID_TAGS,
  FORBID_ATTR,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: true,
  SANITIZE_NAMED_PROPS: true, // ids and names get a prefix, so narrative cannot clobber the page's globals
  WHOLE_DOCUMENT: false,
  RETURN_DOM_FRAGMENT: true, // parsed in an inert document: nothing loads while it is cleaned
};

/** A DocumentFragment holding the sanitised narrative, ready to append. */
export function sanitizeNarrative(html) {
  if (typeof html !== "string" || html === "") return document.createDocumentFragment();
  return purifier.sanitize(html, CONFIG);
}
