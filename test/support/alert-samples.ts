// Sample alerts live in pipeline/ so the alert benchmark sends the same ones.
export * from '../../pipeline/simulate/alerts';
