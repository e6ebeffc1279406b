// dist.c: see dist.h.
#include "dist.h"

static int comm_size(MPI_Comm c) {
  int n = 1;
  if (c != MPI_COMM_NULL) MPI_Comm_size(c, &n);
  return n;
}

void dist_share(int B, int rank, int size, int *offset, int *count) {
  int base = B / size, extra = B % size;
  *count = base + (rank < extra);
  *offset = rank * base + (rank < extra ? rank : extra);
}

void dist_broadcast_model(Model *m) {
  if (comm_size(m->comm) == 1) return;
  MPI_Bcast(m->param_mem, (int)m->n_param_floats, MPI_FLOAT, 0, m->comm);
  if (m->n_buffer_floats) MPI_Bcast(m->buffer_mem, (int)m->n_buffer_floats, MPI_FLOAT, 0, m->comm);
}

void dist_allreduce_grads(Model *m) {
  if (comm_size(m->comm) == 1) return;
  MPI_Allreduce(MPI_IN_PLACE, m->grad_mem, (int)m->n_param_floats, MPI_FLOAT, MPI_SUM, m->comm);
}

void dist_average_buffers(Model *m) {
  int n = comm_size(m->comm);
  if (n == 1 || !m->n_buffer_floats) return;
  MPI_Allreduce(MPI_IN_PLACE, m->buffer_mem, (int)m->n_buffer_floats, MPI_FLOAT, MPI_SUM, m->comm);
  for (int64_t i = 0; i < m->n_buffer_floats; i++) m->buffer_mem[i] /= (float)n;
}

double dist_sum(MPI_Comm comm, double x) {
  if (comm_size(comm) > 1) MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_SUM, comm);
  return x;
}
