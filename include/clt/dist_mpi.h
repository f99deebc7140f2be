/* clt: a clt_dist over a communicator of the application's (clt/dist.h). The only public header
 * that includes <mpi.h>; installed with clt builds that have MPI. */
#ifndef CLT_DIST_MPI_H
#define CLT_DIST_MPI_H

#include <mpi.h>

#include "clt/dist.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A clt_dist over comm (MPI must be initialised: CLT_ERR_STATE otherwise): clt duplicates it
 * (MPI_Comm_dup, collective over comm) and sets MPI_ERRORS_RETURN on the duplicate only, so
 * comm and its error handler stay the application's. Releasing the handle frees the duplicate
 * and never finalises MPI. */
CLT_API clt_status clt_dist_adopt(MPI_Comm comm, clt_dist **out);

#ifdef __cplusplus
}
#endif

#endif
