// The customer page: sign up, verify the phone, sign in, buy a voucher and
// follow it, list vouchers, sign out. It calls the public API of the same
// origin; the access token lives in sessionStorage, so it ends with the tab.
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const store = window.sessionStorage;
  const KEY_TOKEN = "vouchers.token";
  const KEY_USER = "vouchers.username";
  const KEY_PHONE = "vouchers.phone"; // set once the phone is verified

  const views = ["view-sign-in", "view-sign-up", "view-verify", "view-shop"];

  // ApiError is a refused or failed call; detail is what the user reads.
  class ApiError extends Error {
    constructor(status, detail, retryAfter) {
      super(detail);
      this.status = status;
      this.detail = detail;
      this.retryAfter = retryAfter;
      // handled: the page already reacted (a 401 took the user to sign-in).
      this.handled = false;
    }
  }

  // retryAfter reads Retry-After (seconds or an HTTP date) in seconds; 0 when absent.
  function retryAfter(headers) {
    const v = headers.get("Retry-After");
    if (!v) return 0;
    if (/^\d+$/.test(v)) return Number(v);
    const at = Date.parse(v);
    return Number.isNaN(at) ? 0 : Math.max(0, Math.ceil((at - Date.now()) / 1000));
  }

  // api calls the gateway and answers {data, headers}. Errors are
  // application/problem+json: their detail becomes the ApiError's. A 401 on a
  // call made with a token means the session ended: back to sign-in.
  async function api(method, path, body, headers) {
    const h = Object.assign({ Accept: "application/json, application/problem+json" }, headers);
    const token = store.getItem(KEY_TOKEN);
    if (token) h.Authorization = "Bearer " + token;
    if (body !== undefined) h["Content-Type"] = "application/json";
    let resp;
    try {
      resp = await fetch(path, {
        method,
        headers: h,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch (e) {
      throw new ApiError(0, "The service cannot be reached. Check your connection and try again.", 0);
    }
    let data = null;
    if ((resp.headers.get("Content-Type") || "").includes("json")) {
      try { data = await resp.json(); } catch (e) { data = null; }
    }
    if (resp.ok) return { data, headers: resp.headers };
    const detail = (data && (data.detail || data.title)) || "The service answered " + resp.status + ".";
    const err = new ApiError(resp.status, detail, retryAfter(resp.headers));
    if (resp.status === 401 && token) {
      sessionEnded();
      err.handled = true;
    }
    throw err;
  }

  // --- messages (both regions are live: role=status and role=alert) ---

  function notice(text) {
    $("notice").textContent = text;
  }

  function showError(text) {
    $("error").textContent = text;
  }

  function clearMessages() {
    notice("");
    showError("");
  }

  // fail shows what went wrong, unless the page already reacted to it.
  function fail(err) {
    if (err instanceof ApiError) {
      if (!err.handled) showError(err.detail);
      return;
    }
    showError("Something went wrong on this page: " + err.message);
  }

  // --- views ---

  function show(view, focus) {
    for (const v of views) $(v).hidden = v !== view;
    const user = store.getItem(KEY_USER);
    const signedIn = Boolean(store.getItem(KEY_TOKEN));
    $("account").hidden = !signedIn;
    $("who").textContent = signedIn && user ? "Signed in as " + user : "";
    if (focus) {
      const heading = $(view).querySelector("h1");
      if (heading) heading.focus();
    }
  }

  function showSignIn(focus) {
    $("sign-in-password").value = "";
    show("view-sign-in", focus);
  }

  function showVerify(focus) {
    $("verify-code").value = "";
    show("view-verify", focus);
  }

  function showShop(focus) {
    $("shop-phone").textContent = store.getItem(KEY_PHONE) || "";
    show("view-shop", focus);
    refreshVouchers();
  }

  // whereNext sends a signed-in user to the shop, or to the phone check when
  // the phone is not verified yet (GET /user/me says which).
  async function whereNext() {
    try {
      const { data } = await api("GET", "/user/me");
      store.setItem(KEY_PHONE, data.phoneNumber);
      if (data.phoneVerified) {
        showShop(true);
      } else {
        showVerify(true);
      }
    } catch (err) {
      if (err.handled) return;
      fail(err);
    }
  }

  function startSession(token, username) {
    store.clear();
    store.setItem(KEY_TOKEN, token);
    store.setItem(KEY_USER, username);
  }

  // The list comes a page at a time, newest first; the cursor of the
  // older vouchers, "" when the page shown is the last.
  let olderVouchers = "";

  function endSession() {
    stopFollowing();
    store.clear();
    $("purchase").hidden = true;
    $("buy").disabled = false;
    $("vouchers").replaceChildren();
    $("vouchers-empty").hidden = false;
    olderVouchers = "";
    $("vouchers-more").hidden = true;
  }

  function sessionEnded() {
    endSession();
    clearMessages();
    showSignIn(true);
    showError("Your session has ended. Please sign in again.");
  }

  // busy disables a button while its call runs.
  async function busy(button, fn) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      await fn();
    } catch (err) {
      fail(err);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }

  // --- accounts ---

  $("to-sign-up").addEventListener("click", () => {
    clearMessages();
    show("view-sign-up", true);
  });
  $("to-sign-in").addEventListener("click", () => {
    clearMessages();
    showSignIn(true);
  });

  $("sign-up-form").addEventListener("submit", (e) => {
    e.preventDefault();
    clearMessages();
    const username = $("sign-up-username").value.trim();
    const phoneNumber = $("sign-up-phone").value.trim();
    const password = $("sign-up-password").value;
    busy($("sign-up-submit"), async () => {
      store.clear();
      const { data } = await api("POST", "/user/sign-up", { username, phoneNumber, password });
      startSession(data.accessToken, username);
      $("sign-up-password").value = "";
      $("verify-intro").textContent = "We sent a 6-digit code by SMS to " + phoneNumber + ". It is valid for 5 minutes.";
      showVerify(true);
      notice("Your account is created. Enter the code from the SMS to verify your phone.");
    });
  });

  $("sign-in-form").addEventListener("submit", (e) => {
    e.preventDefault();
    clearMessages();
    const username = $("sign-in-username").value.trim();
    const password = $("sign-in-password").value;
    busy($("sign-in-submit"), async () => {
      store.clear();
      const { data } = await api("POST", "/user/sign-in", { username, password });
      startSession(data.accessToken, username);
      $("sign-in-password").value = "";
      $("verify-intro").textContent = "Enter the 6-digit code we sent to your phone by SMS, or ask for a new one.";
      await whereNext();
    });
  });

  $("verify-form").addEventListener("submit", (e) => {
    e.preventDefault();
    clearMessages();
    const code = $("verify-code").value.trim();
    busy($("verify-submit"), async () => {
      const { data } = await api("POST", "/user/phone/verify", { code });
      store.setItem(KEY_PHONE, data.phoneNumber);
      showShop(true);
      notice("Your phone " + data.phoneNumber + " is verified. You can buy vouchers now.");
    });
  });

  $("resend").addEventListener("click", async () => {
    clearMessages();
    const button = $("resend");
    button.disabled = true;
    let wait = 0;
    try {
      await api("POST", "/user/phone/verification");
      notice("A new code is on its way by SMS.");
    } catch (err) {
      if (err.status === 409) {
        await whereNext(); // verified meanwhile (in another tab)
        return;
      }
      // Too soon after the last code: the button waits as long as asked.
      if (err.status === 429) wait = err.retryAfter;
      fail(err);
    } finally {
      setTimeout(() => { button.disabled = false; }, wait * 1000);
    }
  });

  $("sign-out").addEventListener("click", () => {
    clearMessages();
    busy($("sign-out"), async () => {
      try {
        await api("POST", "/user/sign-out");
      } catch (err) {
        if (err.handled) return; // already signed out
        throw err;
      }
      endSession();
      $("sign-in-username").value = ""; // kept after a session ends by itself, not after a sign-out
      showSignIn(true);
      notice("You are signed out.");
    });
  });

  // Every session of the account ends (a lost phone, a shared computer).
  $("sign-out-everywhere").addEventListener("click", () => {
    clearMessages();
    busy($("sign-out-everywhere"), async () => {
      try {
        await api("POST", "/user/sign-out-everywhere");
      } catch (err) {
        if (err.handled) return; // already signed out
        throw err;
      }
      endSession();
      $("sign-in-username").value = "";
      showSignIn(true);
      notice("You are signed out on every device.");
    });
  });

  // --- purchases ---

  // A purchase is one click on "Buy": its Idempotency-Key is made then and
  // reused by every retry of that click, so a retried request never buys
  // twice; the button stays off until the purchase is final.
  let following = null; // the timer of the request being followed
  let generation = 0; // bumped whenever following stops: late answers are dropped

  function stopFollowing() {
    if (following) clearTimeout(following);
    following = null;
    generation++;
  }

  function newKey() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  const finalStates = { 1: "success", 2: "failed" };

  function renderPurchase(v) {
    $("purchase").hidden = false;
    const status = $("purchase-status");
    status.textContent = v.status;
    status.className = "badge " + (finalStates[v.state] || "processing");
    const progress = Number(v.progress) || 0;
    $("purchase-progress").value = progress;
    $("purchase-progress-text").textContent = progress + " %";
    $("purchase-code").textContent = v.voucherCode || "";
    $("purchase-code-row").hidden = !v.voucherCode;
    $("purchase-reason").textContent = v.reason || "";
    $("purchase-reason-row").hidden = !v.reason;
    $("purchase-message").textContent = v.message || "";
  }

  function finished(v) {
    stopFollowing();
    $("buy").disabled = false;
    $("buy").removeAttribute("aria-busy");
    if (v.state === 1) {
      notice("Your voucher is ready: " + v.voucherCode + ". We also sent it to your phone by SMS.");
      refreshVouchers();
    } else {
      showError("The purchase failed" + (v.reason ? ": " + v.reason : "."));
    }
  }

  // follow polls the request until it is final, as often as Retry-After
  // asks (every second without it). Passing trouble (no connection, 5xx)
  // only slows the polling down.
  function follow(location, wait) {
    stopFollowing();
    const gen = generation;
    following = setTimeout(async () => {
      try {
        const { data, headers } = await api("GET", location);
        if (gen !== generation) return;
        renderPurchase(data);
        if (data.state !== 0) {
          finished(data);
          return;
        }
        follow(location, retryAfter(headers) || 1);
      } catch (err) {
        if (err.handled || gen !== generation) return;
        if (err.status === 0 || err.status >= 500 || err.status === 429) {
          follow(location, Math.max(err.retryAfter, 3));
          return;
        }
        stopFollowing();
        $("buy").disabled = false;
        $("buy").removeAttribute("aria-busy");
        fail(err);
      }
    }, Math.min(wait, 30) * 1000);
  }

  // purchase sends the purchase, again with the same key while the
  // service is busy or unreachable (a few times).
  async function purchase(key) {
    const body = { phoneNumber: store.getItem(KEY_PHONE) };
    for (let attempt = 1; ; attempt++) {
      try {
        return await api("POST", "/voucher", body, { "Idempotency-Key": key });
      } catch (err) {
        const passing = err.status === 0 || err.status === 503;
        if (!passing || attempt >= 4) throw err;
        await new Promise((r) => setTimeout(r, Math.max(err.retryAfter, 1) * 1000));
      }
    }
  }

  $("buy").addEventListener("click", async () => {
    const buy = $("buy");
    if (buy.disabled) return;
    buy.disabled = true;
    buy.setAttribute("aria-busy", "true");
    clearMessages();
    notice("Buying a voucher…");
    const gen = generation;
    try {
      const { data, headers } = await purchase(newKey());
      if (gen !== generation) return; // signed out meanwhile
      renderPurchase(data);
      notice("Purchase accepted: " + (data.message || "it is being processed."));
      follow(headers.get("Location") || "/voucher/requests/" + encodeURIComponent(data.requestId),
        retryAfter(headers) || 1);
    } catch (err) {
      buy.disabled = false;
      buy.removeAttribute("aria-busy");
      if (!err.handled) notice("");
      fail(err);
    }
  });

  // --- vouchers ---

  function dateOf(s) {
    const d = new Date(s);
    return Number.isNaN(d.getTime()) ? "" : d.toLocaleString();
  }

  function renderVouchers(list, more) {
    const items = (list || []).map((v) => {
      const li = document.createElement("li");
      const code = document.createElement("span");
      code.className = "code";
      code.textContent = v.voucherCode;
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = (v.status === "LATE_SUCCESS" ? "Issued late, " : "Issued ") + dateOf(v.issuedAt);
      li.append(code, meta);
      return li;
    });
    const ul = $("vouchers");
    if (more) ul.append(...items);
    else ul.replaceChildren(...items);
    $("vouchers-empty").hidden = ul.children.length > 0;
    $("vouchers-more").hidden = !olderVouchers;
  }

  // loadVouchers shows the newest page, or with more the next older one.
  async function loadVouchers(more) {
    const phone = store.getItem(KEY_PHONE);
    if (!phone) return;
    let path = "/voucher?phoneNumber=" + encodeURIComponent(phone);
    if (more && olderVouchers) path += "&cursor=" + encodeURIComponent(olderVouchers);
    const { data } = await api("GET", path);
    olderVouchers = (data && data.nextCursor) || "";
    renderVouchers(data && data.vouchers, more);
  }

  // refreshVouchers loads the list in the background, showing any error.
  function refreshVouchers() {
    loadVouchers().catch(fail);
  }

  $("vouchers-more").addEventListener("click", () => {
    clearMessages();
    busy($("vouchers-more"), () => loadVouchers(true));
  });

  $("refresh").addEventListener("click", () => {
    clearMessages();
    busy($("refresh"), async () => {
      await loadVouchers();
      notice("Your vouchers are up to date.");
    });
  });

  // --- start: pick up a session this tab already has ---

  if (store.getItem(KEY_TOKEN)) {
    if (store.getItem(KEY_PHONE)) showShop(false);
    else whereNext();
  } else {
    showSignIn(false);
  }
})();
