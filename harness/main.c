// main.c: the ecore command line (placeholder until the harness lands).
int main(void) { return 0; }
