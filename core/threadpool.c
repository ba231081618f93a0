/*
 * threadpool.c -- a small pthread pool for data-parallel loops.
 *
 * Workers are started on first use and sleep on a condition variable
 * between jobs. A job is a range [0, n) cut into chunks that the caller and
 * the workers take from a shared atomic counter; the caller works too and
 * returns when every chunk is done. One job runs at a time (callers are
 * serialised by a mutex); a call from inside a job runs inline. An atexit
 * handler joins the workers, so nothing leaks at exit.
 */
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* OpenBLAS keeps its own threads; its count follows ours. Weak, so programs
 * that do not link OpenBLAS still link. */
void openblas_set_num_threads(int) __attribute__((weak));
void openblas_read_env(void) __attribute__((weak));
int blas_thread_shutdown_(void) __attribute__((weak));

#define POOL_CHUNKS_PER_THREAD 4
#define POOL_MAX_THREADS 1024

static pthread_mutex_t pool_call_lock = PTHREAD_MUTEX_INITIALIZER; /* one job */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;      /* state */
static pthread_cond_t pool_work_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t pool_done_cv = PTHREAD_COND_INITIALIZER;

static int pool_threads_wanted;        /* total threads incl. caller; 0: unset */
static pthread_t *pool_workers;
static int pool_nworkers;              /* started workers */
static bool pool_shutdown;
static bool pool_atexit_done;
static uint64_t pool_generation;       /* bumped for each job */
static int pool_pending;               /* workers still busy with the job */

/* The current job (written under pool_lock before the generation bump). */
static pool_fn job_fn;
static void *job_ctx;
static int64_t job_n, job_nchunks;
static int job_nworkers;               /* workers that take part */
static atomic_llong job_next;          /* next chunk to take */

static _Thread_local bool pool_inside; /* this thread is running a job */

static int online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* TYCHO_NUM_THREADS if set to a positive number, else the core count. */
static int default_threads(void)
{
    const char *env = getenv("TYCHO_NUM_THREADS");
    if (env && *env) {
        char *end;
        long n = strtol(env, &end, 10);
        if (*end == '\0' && n > 0) return n < POOL_MAX_THREADS ? (int)n : POOL_MAX_THREADS;
    }
    return online_cores();
}

/* OpenBLAS's idle threads spin (sched_yield) for about 2^28 cycles after
 * each call before they sleep; on few cores they take the CPU from this
 * pool's threads between two GEMMs. Measured on 2 cores: fashion_cnn.lua
 * --quick 4.9 s -> 4.35 s, system time 2.6 s -> 0.9 s with the shortest
 * timeout. So, unless the user set OPENBLAS_THREAD_TIMEOUT, tycho asks for
 * the shortest (2^4 cycles) before its first GEMM and restarts OpenBLAS's
 * threads so that they read it (they start again on the next call). */
static void shorten_blas_spin(void)
{
    static bool done;
    if (done) return;
    done = true;
    if (!openblas_read_env || !blas_thread_shutdown_ || getenv("OPENBLAS_THREAD_TIMEOUT"))
        return;
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
    openblas_read_env();
    blas_thread_shutdown_();
}

static void set_blas_threads(int n)
{
    shorten_blas_spin();
    if (openblas_set_num_threads) openblas_set_num_threads(n);
}

/* Takes chunks of the current job until none is left. */
static void run_chunks(void)
{
    int64_t base = job_n / job_nchunks, extra = job_n % job_nchunks;
    for (;;) {
        int64_t c = atomic_fetch_add(&job_next, 1);
        if (c >= job_nchunks) break;
        int64_t begin = c * base + (c < extra ? c : extra);
        int64_t end = begin + base + (c < extra ? 1 : 0);
        job_fn(job_ctx, begin, end);
    }
}

typedef struct worker_arg {
    int index;
    uint64_t generation;               /* the generation at spawn time */
} worker_arg;

static void *worker_main(void *p)
{
    worker_arg arg = *(worker_arg *)p;
    free(p);
    pool_inside = true;
    uint64_t seen = arg.generation;
    pthread_mutex_lock(&pool_lock);
    for (;;) {
        while (pool_generation == seen && !pool_shutdown)
            pthread_cond_wait(&pool_work_cv, &pool_lock);
        if (pool_shutdown) break;
        seen = pool_generation;
        if (arg.index >= job_nworkers) continue;
        pthread_mutex_unlock(&pool_lock);
        run_chunks();
        pthread_mutex_lock(&pool_lock);
        if (--pool_pending == 0) pthread_cond_signal(&pool_done_cv);
    }
    pthread_mutex_unlock(&pool_lock);
    return NULL;
}

/* Joins every worker (callers hold pool_call_lock, or it is exit time). */
static void stop_workers(void)
{
    if (pool_nworkers == 0) return;
    pthread_mutex_lock(&pool_lock);
    pool_shutdown = true;
    pthread_cond_broadcast(&pool_work_cv);
    pthread_mutex_unlock(&pool_lock);
    for (int i = 0; i < pool_nworkers; i++) pthread_join(pool_workers[i], NULL);
    free(pool_workers);
    pool_workers = NULL;
    pool_nworkers = 0;
    pool_shutdown = false;
}

static void pool_atexit(void)
{
    pthread_mutex_lock(&pool_call_lock);
    stop_workers();
    pthread_mutex_unlock(&pool_call_lock);
}

/* Starts the workers of the configured count (pool_call_lock held). Falls
 * back to fewer workers when thread creation fails. */
static void start_workers(void)
{
    if (pool_threads_wanted == 0) {
        pool_threads_wanted = default_threads();
        set_blas_threads(pool_threads_wanted);
    }
    int want = pool_threads_wanted - 1;
    if (pool_nworkers > 0 || want <= 0) return;
    if (!pool_atexit_done) {
        if (atexit(pool_atexit) != 0) return;        /* no workers: run inline */
        pool_atexit_done = true;
    }
    pool_workers = malloc(sizeof(pthread_t) * (size_t)want);
    if (!pool_workers) return;
    for (int i = 0; i < want; i++) {
        worker_arg *arg = malloc(sizeof *arg);
        if (!arg) break;
        arg->index = i;
        pthread_mutex_lock(&pool_lock);
        arg->generation = pool_generation;
        pthread_mutex_unlock(&pool_lock);
        if (pthread_create(&pool_workers[i], NULL, worker_main, arg) != 0) {
            free(arg);
            break;
        }
        pool_nworkers++;
    }
    if (pool_nworkers == 0) {
        free(pool_workers);
        pool_workers = NULL;
    }
}

void pool_parallel_for(int64_t n, int64_t grain, pool_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (n <= grain || pool_inside) {
        fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&pool_call_lock);
    start_workers();
    int threads = pool_nworkers + 1;
    int64_t nchunks = n / grain;
    if (nchunks > (int64_t)threads * POOL_CHUNKS_PER_THREAD)
        nchunks = (int64_t)threads * POOL_CHUNKS_PER_THREAD;
    if (threads <= 1 || nchunks <= 1) {
        pthread_mutex_unlock(&pool_call_lock);
        fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&pool_lock);
    job_fn = fn;
    job_ctx = ctx;
    job_n = n;
    job_nchunks = nchunks;
    job_nworkers = nchunks - 1 < pool_nworkers ? (int)(nchunks - 1) : pool_nworkers;
    atomic_store(&job_next, 0);
    pool_pending = job_nworkers;
    pool_generation++;
    pthread_cond_broadcast(&pool_work_cv);
    pthread_mutex_unlock(&pool_lock);

    pool_inside = true;
    run_chunks();
    pool_inside = false;

    pthread_mutex_lock(&pool_lock);
    while (pool_pending > 0) pthread_cond_wait(&pool_done_cv, &pool_lock);
    pthread_mutex_unlock(&pool_lock);
    pthread_mutex_unlock(&pool_call_lock);
}

int pool_num_threads(void)
{
    pthread_mutex_lock(&pool_call_lock);
    if (pool_threads_wanted == 0) {
        pool_threads_wanted = default_threads();
        set_blas_threads(pool_threads_wanted);
    }
    int n = pool_threads_wanted;
    pthread_mutex_unlock(&pool_call_lock);
    return n;
}

/* Sets the number of threads (<= 0: the online cores); workers restart
 * lazily with the new count. Ignored from inside a parallel job. */
void ty_set_num_threads(int n)
{
    if (pool_inside) return;
    if (n <= 0) n = online_cores();
    if (n > POOL_MAX_THREADS) n = POOL_MAX_THREADS;
    pthread_mutex_lock(&pool_call_lock);
    if (n != pool_threads_wanted) {
        stop_workers();
        pool_threads_wanted = n;
    }
    pthread_mutex_unlock(&pool_call_lock);
    set_blas_threads(n);
}

int ty_get_num_threads(void)
{
    return pool_num_threads();
}
