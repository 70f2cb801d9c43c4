import type { ComponentChildren } from 'preact';

/** One column of a DataTable: its header (absent for a column of buttons) and a row's cell. */
export interface Column<T> {
  head?: ComponentChildren;
  cell: (row: T) => ComponentChildren;
}

/**
 * The dashboard's tables (checks, backups, tasks, policies, runs, audit, disks): a header row from
 * `columns` (none when no column has a header), then one row per item. `rowAttrs` gives a row
 * the data-* attributes that the browser tests and the page's own scripts find it by.
 */
export function DataTable<T>({ columns, rows, rowAttrs }: { columns: readonly Column<T>[]; rows: readonly T[]; rowAttrs?: (row: T) => Record<string, string> }) {
  const headed = columns.some((c) => c.head !== undefined);
  return (
    <table>
      {headed && (
        <thead>
          <tr>
            {columns.map((c) => (
              <th>{c.head}</th>
            ))}
          </tr>
        </thead>
      )}
      <tbody>
        {rows.map((r) => (
          <tr {...(rowAttrs?.(r) ?? {})}>
            {columns.map((c) => (
              <td>{c.cell(r)}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
