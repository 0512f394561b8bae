import { useState } from "preact/hooks";
import { login } from "./actions";
import { text } from "./i18n";
import { useStore, type State } from "./store";
import { L, Icon } from "./ui";

const sel = (s: State) => s;

export function Login() {
  const s = useStore(sel);
  const locked = s.phase === "locked";
  const [username, setUsername] = useState(locked ? s.lockedUser : "");
  const [password, setPassword] = useState("");
  const [totp, setTotp] = useState("");
  const submit = (e: Event) => {
    e.preventDefault();
    void login(locked ? s.lockedUser : username, password, totp.trim()).then(() => setPassword(""));
  };
  return (
    <main class="login">
      <form class="login-box" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">
          {locked ? <Icon name="lock" /> : <Icon name="camera" />} {locked ? <L k="locked" /> : <L k="title" />}
        </h1>
        {locked ? <p class="hint"><L k="lockedHint" /></p> : null}
        {s.notice && !locked ? <p class="hint" role="status">{s.notice}</p> : null}
        <label>
          <L k="username" />
          <input id="login-user" name="username" autocomplete="username" required value={locked ? s.lockedUser : username}
            readOnly={locked} onInput={(e) => setUsername(e.currentTarget.value)} autoFocus={!locked} />
        </label>
        <label>
          <L k="password" />
          <input id="login-password" name="password" type="password" autocomplete="current-password" required value={password}
            onInput={(e) => setPassword(e.currentTarget.value)} autoFocus={locked} />
        </label>
        <label>
          <L k="totp" />
          <input id="login-totp" name="totp" inputMode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxLength={6}
            value={totp} onInput={(e) => setTotp(e.currentTarget.value)} aria-describedby="totp-hint" />
          <small id="totp-hint" class="hint">{text("totpHint")}</small>
        </label>
        {s.loginError ? <p class="error" role="alert">{s.loginError}</p> : null}
        <button id="login-submit" type="submit" disabled={s.busy}>
          {s.busy ? <L k="loggingIn" /> : locked ? <L k="unlock" /> : <L k="login" />}
        </button>
      </form>
    </main>
  );
}
