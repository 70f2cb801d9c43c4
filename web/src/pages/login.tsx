import { useState } from 'preact/hooks';
import { send } from '../api.js';
import { ErrorBox } from '../components.js';
import { useI18n } from '../i18n.js';
import type { SessionInfo } from '../session.js';

export function LoginPage({ onLogin, badTicket, expired }: { onLogin: (s: SessionInfo) => void; badTicket: boolean; expired: boolean }) {
  const { t } = useI18n();
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onLogin(await send<SessionInfo>('POST', '/api/v1/dashboard/login', { token }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card login" onSubmit={submit} aria-labelledby="login-title">
      <h1 id="login-title">{t('login.title')}</h1>
      {badTicket && <p class="error" role="alert">{t('login.badTicket')}</p>}
      {expired && <p class="warn" role="status">{t('login.expired')}</p>}
      <label for="login-token">{t('login.token')}</label>
      <input id="login-token" type="password" autocomplete="off" value={token} onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)} aria-describedby="login-help" required />
      <p id="login-help" class="muted">
        {t('login.tokenHelp')}
      </p>
      <ErrorBox error={error} />
      <button type="submit" disabled={busy}>
        {t('login.submit')}
      </button>
    </form>
  );
}
