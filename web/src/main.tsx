import 'uplot/dist/uPlot.min.css';
import './app.css';
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { get, send, setCsrf, whenUnauthorized } from './api.js';
import { I18n, initialLang, LANG_NAMES, rememberLang, translator, useI18n, type Lang } from './i18n.js';
import { startLive, stopLive, useLiveState } from './live.js';
import { Session, type SessionInfo } from './session.js';
import { LoginPage } from './pages/login.js';
import { FleetPage } from './pages/fleet.js';
import { HostPage } from './pages/host.js';
import { AlertsPage } from './pages/alerts.js';
import { RunsPage } from './pages/runs.js';
import { TasksPage } from './pages/tasks.js';
import { AuditPage } from './pages/audit.js';

/** The hash route: `#/hosts/web-1?x=y` → ['hosts', 'web-1'] and its query. */
function parseHash(): { parts: string[]; query: URLSearchParams } {
  const h = location.hash.replace(/^#\/?/, '');
  const [path = '', q = ''] = h.split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(q) };
}

function useRoute() {
  const [r, setR] = useState(parseHash);
  useEffect(() => {
    const fn = () => setR(parseHash());
    addEventListener('hashchange', fn);
    return () => removeEventListener('hashchange', fn);
  }, []);
  return r;
}

const NAV = [
  ['', 'nav.fleet'],
  ['alerts', 'nav.alerts'],
  ['runs', 'nav.runs'],
  ['tasks', 'nav.tasks'],
  ['audit', 'nav.audit'],
] as const;

function App() {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const i18n = useMemo(() => ({ lang, t: translator(lang), setLang: (l: Lang) => (rememberLang(l), setLangState(l)) }), [lang]);
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  const [expired, setExpired] = useState(false);
  const route = useRoute();
  const { t } = i18n;

  useEffect(() => {
    rememberLang(lang);
    whenUnauthorized(() => {
      setSession(null);
      setExpired(true);
      stopLive();
    });
    get<SessionInfo | { loggedIn: false }>('/api/v1/dashboard/session').then(
      (s) => {
        if (!s.loggedIn) return setSession(null);
        setCsrf(s.csrf);
        setSession(s);
      },
      () => setSession(null),
    );
  }, []);
  useEffect(() => {
    if (session) startLive();
  }, [session?.name]);

  const loggedIn = (s: SessionInfo) => {
    setCsrf(s.csrf);
    setExpired(false);
    setSession(s);
    location.hash = '#/';
  };
  const logout = async () => {
    try {
      await send('POST', '/api/v1/dashboard/logout');
    } finally {
      stopLive();
      setSession(null);
    }
  };

  let page;
  if (session === undefined) page = <p class="muted">{t('common.loading')}</p>;
  else if (session === null) page = <LoginPage onLogin={loggedIn} badTicket={route.query.get('error') === 'ticket'} expired={expired} />;
  else {
    const [first, second] = route.parts;
    if (first === 'hosts' && second) page = <HostPage id={second} />;
    else if (first === 'alerts') page = <AlertsPage />;
    else if (first === 'runs') page = <RunsPage />;
    else if (first === 'tasks') page = <TasksPage />;
    else if (first === 'audit') page = <AuditPage />;
    else page = <FleetPage initialTarget={route.query.get('target') ?? ''} />;
  }
  const current = route.parts[0] === 'hosts' ? '' : (route.parts[0] ?? '');

  return (
    <I18n.Provider value={i18n}>
      <Session.Provider value={session ?? undefined}>
        <header class="top">
          <strong class="brand">{t('app.title')}</strong>
          {session && (
            <nav aria-label="main">
              {NAV.map(([path, key]) => (
                <a href={`#/${path}`} class={current === path ? 'active' : ''} aria-current={current === path ? 'page' : undefined} data-nav={path || 'fleet'}>
                  {t(key)}
                </a>
              ))}
            </nav>
          )}
          <span class="spacer" />
          {session && <LiveDot />}
          <label class="lang">
            {t('nav.language')}{' '}
            <select id="lang" value={lang} onChange={(e) => i18n.setLang((e.currentTarget as HTMLSelectElement).value as Lang)}>
              {(Object.keys(LANG_NAMES) as Lang[]).map((l) => (
                <option value={l}>{LANG_NAMES[l]}</option>
              ))}
            </select>
          </label>
          {session && (
            <>
              <span class="who" data-testid="who">
                {t('nav.signedInAs', { name: session.name, role: session.role })}
              </span>
              <button type="button" onClick={logout}>
                {t('nav.logout')}
              </button>
            </>
          )}
        </header>
        <main>{page}</main>
      </Session.Provider>
    </I18n.Provider>
  );
}

function LiveDot() {
  const live = useLiveState();
  const { t } = useI18n();
  return <span class={`live ${live ? 'on' : 'off'}`} title={live ? t('live.on') : t('live.off')}>{live ? t('live.on') : t('live.off')}</span>;
}

render(<App />, document.getElementById('app')!);
