import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { en, type MessageKey } from './i18n/en.js';
import { zh } from './i18n/zh.js';

export const CATALOGUES = { en, zh } as const;
export type Lang = keyof typeof CATALOGUES;
export const LANG_NAMES: Record<Lang, string> = { en: 'English', zh: '简体中文' };
const STORAGE_KEY = 'opsfleet.lang';

/** The remembered choice, else the browser's language (zh-* → Chinese). */
export function initialLang(): Lang {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved === 'en' || saved === 'zh') return saved;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

export function rememberLang(l: Lang): void {
  localStorage.setItem(STORAGE_KEY, l);
  document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
}

export type T = (key: MessageKey, vars?: Record<string, string | number>) => string;

export function translator(l: Lang): T {
  const cat = CATALOGUES[l];
  return (key, vars) => {
    const text: string = cat[key] ?? en[key] ?? key;
    return vars ? text.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m)) : text;
  };
}

export const I18n = createContext<{ lang: Lang; t: T; setLang: (l: Lang) => void }>({ lang: 'en', t: translator('en'), setLang: () => {} });
export const useI18n = () => useContext(I18n);
