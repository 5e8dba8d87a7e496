// The timeline records live in pipeline/ so the alert benchmark builds its live loops the same way.
export * from '../../pipeline/simulate/timeline';
