/*
 * ntdef.h (ndis-rwlock): the basic types, status codes and macros of the Windows kernel headers,
 * written for compiling driver code on Linux against libndis_rwlock.a. Written from Microsoft's
 * public documentation; not the WDK's header. README.md ("Using it from C") lists what the
 * include/km headers provide and the rule for everything else.
 *
 * Target macros, as MSVC defines them for a 64-bit Windows target: on x86-64 Linux hosts
 * _WIN32, _WIN64, _M_AMD64, _M_X64 and _AMD64_; on ARM64 hosts _WIN32, _WIN64, _M_ARM64 and
 * _ARM64_. None on other hosts (a 32-bit host has no matching Windows ABI here).
 */
#ifndef _NTDEF_
#define _NTDEF_

#include <stddef.h>
#include <stdint.h>

/* ---- Target ---------------------------------------------------------------------------- */
#if defined(__x86_64__) || defined(__aarch64__)
#ifndef _WIN32
#define _WIN32 1
#endif
#ifndef _WIN64
#define _WIN64 1
#endif
#endif
#if defined(__x86_64__) && !defined(_M_AMD64)
#define _M_AMD64 100
#define _M_X64 100
#define _AMD64_ 1
#endif
#if defined(__aarch64__) && !defined(_M_ARM64)
#define _M_ARM64 1
#define _ARM64_ 1
#endif

/* Driver code spells pool tags as multi-character constants ('tliF') and carries MSVC
 * pragmas (#pragma warning): neither is an error here. GCC gives 'abcd' the value MSVC does. */
#pragma GCC diagnostic ignored "-Wmultichar"
#pragma GCC diagnostic ignored "-Wunknown-pragmas"

#ifndef DBG
#define DBG 1 /* a checked build: ASSERT is live (see below) */
#endif

/* ---- Windows versions (sdkddkver.h) ---------------------------------------------------
 * NTDDI_VERSION defaults to NTDDI_WIN10_NI (Windows 11 22H2) when the build sets none. */
#define NTDDI_WIN7 0x06010000
#define NTDDI_WIN8 0x06020000
#define NTDDI_WINBLUE 0x06030000
#define NTDDI_WINTHRESHOLD 0x0A000000
#define NTDDI_WIN10 0x0A000000
#define NTDDI_WIN10_TH2 0x0A000001
#define NTDDI_WIN10_RS1 0x0A000002
#define NTDDI_WIN10_RS2 0x0A000003
#define NTDDI_WIN10_RS3 0x0A000004
#define NTDDI_WIN10_RS4 0x0A000005
#define NTDDI_WIN10_RS5 0x0A000006
#define NTDDI_WIN10_19H1 0x0A000007
#define NTDDI_WIN10_VB 0x0A000008
#define NTDDI_WIN10_MN 0x0A000009
#define NTDDI_WIN10_FE 0x0A00000A
#define NTDDI_WIN10_CO 0x0A00000B
#define NTDDI_WIN10_NI 0x0A00000C
#define NTDDI_WIN10_CU 0x0A00000D
#define _WIN32_WINNT_WIN7 0x0601
#define _WIN32_WINNT_WIN8 0x0602
#define _WIN32_WINNT_WINBLUE 0x0603
#define _WIN32_WINNT_WIN10 0x0A00
#ifndef NTDDI_VERSION
#define NTDDI_VERSION NTDDI_WIN10_NI
#endif
#define OSVER(Version) ((Version) & 0xFFFF0000)
#ifndef _WIN32_WINNT
#define _WIN32_WINNT (NTDDI_VERSION >> 16)
#endif
#ifndef WINVER
#define WINVER _WIN32_WINNT
#endif

/* ---- Calling conventions and storage classes ------------------------------------------- */
/* One calling convention on 64-bit targets: the platform's, which Rust's extern "system" is. */
#ifndef __stdcall
#define __stdcall
#endif
#ifndef __cdecl
#define __cdecl
#endif
#ifndef __fastcall
#define __fastcall
#endif
#define NTAPI
#define NTAPI_INLINE
#define NTSYSAPI
#define NTSYSCALLAPI
#define NTKERNELAPI
#define NTHALAPI
#define NDISAPI
#define EXPORT
#define FASTCALL
#define WINAPI
#define CALLBACK
#define DECLSPEC_IMPORT
#define DECLSPEC_EXPORT
#define DECLSPEC_NORETURN __attribute__((__noreturn__))
#define DECLSPEC_NOINLINE __attribute__((__noinline__))
#define DECLSPEC_ALIGN(x) __attribute__((__aligned__(x)))
#define DECLSPEC_CACHEALIGN DECLSPEC_ALIGN(64)
#define DECLSPEC_SELECTANY __attribute__((__weak__))
#define DECLSPEC_NOTHROW
#define DECLSPEC_NOVTABLE
#define DECLSPEC_UUID(x)
#define SYSTEM_CACHE_ALIGNMENT_SIZE 64
#define MEMORY_ALLOCATION_ALIGNMENT 16
#ifndef __inline
#define __inline __inline__
#endif
#ifndef __forceinline
#define __forceinline __inline__ __attribute__((__always_inline__, __unused__))
#endif
/* Usable as "FORCEINLINE VOID F(...)" and as "static FORCEINLINE VOID F(...)". */
#define FORCEINLINE __forceinline
#define NTAPI_INLINE
#ifndef __declspec
#define __declspec(x)
#endif
#define CONST const
#define IN
#define OUT
#define OPTIONAL
#define UNALIGNED
#define RESTRICTED_POINTER
#define POINTER_32
#define POINTER_64
#define ANYSIZE_ARRAY 1

#ifdef __cplusplus
#define EXTERN_C extern "C"
#define NDIS_RWLOCK_KM_BEGIN extern "C" {
#define NDIS_RWLOCK_KM_END }
#else
#define EXTERN_C extern
#define NDIS_RWLOCK_KM_BEGIN
#define NDIS_RWLOCK_KM_END
#endif

/* ---- SAL annotations: every one is a no-op here ---------------------------------------- */
#define _In_
#define _In_opt_
#define _In_z_
#define _In_opt_z_
#define _Out_
#define _Out_opt_
#define _Inout_
#define _Inout_opt_
#define _Inout_z_
#define _Inout_opt_z_
#define _Outptr_
#define _Outptr_opt_
#define _Outptr_result_maybenull_
#define _Outptr_opt_result_maybenull_
#define _Outptr_result_nullonfailure_
#define _COM_Outptr_
#define _Deref_out_
#define _Deref_pre_readonly_
#define _Ret_maybenull_
#define _Ret_notnull_
#define _Ret_null_
#define _Ret_valid_
#define _Ret_z_
#define _Ret_maybenull_z_
#define _Result_nullonfailure_
#define _Result_zeroonfailure_
#define _Must_inspect_result_
#define _Check_return_
#define _Use_decl_annotations_
#define _Null_terminated_
#define _NullNull_terminated_
#define _Printf_format_string_
#define _Scanf_format_string_
#define _Frees_ptr_
#define _Frees_ptr_opt_
#define _Post_ptr_invalid_
#define _Post_invalid_
#define _Post_valid_
#define _Pre_valid_
#define _Pre_notnull_
#define _Pre_maybenull_
#define _Pre_null_
#define _Post_null_
#define _Post_notnull_
#define _Post_maybenull_
#define _Pre_z_
#define _Post_z_
#define _Notnull_
#define _Maybenull_
#define _Reserved_
#define _Strict_type_match_
#define _Points_to_data_
#define _Literal_
#define _Const_
#define _Field_z_
#define _Curr_
#define _Enum_is_bitflag_
#define _Analysis_noreturn_
#define _Raises_SEH_exception_
#define _Maybe_raises_SEH_exception_
#define _Pre_defensive_
#define _Post_defensive_
#define _IRQL_saves_
#define _IRQL_restores_
#define _IRQL_requires_same_
#define _IRQL_uses_cancel_
#define _IRQL_is_cancel_
#define _Interlocked_
#define _Interlocked_operand_
#define _Requires_no_locks_held_
#define _No_competing_thread_
#define _Benign_race_begin_
#define _Benign_race_end_
#define _Lock_kind_mutex_
#define _Lock_kind_event_
#define _Lock_kind_semaphore_
#define _Lock_kind_spin_lock_
#define _Lock_kind_critical_section_
#define _Kernel_float_saved_
#define _Kernel_float_restored_
#define _Kernel_float_used_
#define _Kernel_IoGetDmaAdapter_
#define __drv_aliasesMem
#define __drv_savesIRQL
#define __drv_restoresIRQL
#define __drv_sameIRQL
#define __drv_inTry
#define __drv_useCancelIRQL
#define __drv_isCancelIRQL
#define __drv_floatSaved
#define __drv_floatRestored
#define __drv_floatUsed
#define __in
#define __out
#define __inout
#define __in_opt
#define __out_opt
#define __inout_opt
#define __deref_out
#define __deref_out_opt
#define __checkReturn
#define __nullterminated
#define __reserved
#define __in_z
#define __in_opt_z
#define __out_z
#define __inout_z
#define __callback
#define __override
#define __analysis_noreturn
#define _In_reads_(...)
#define _In_reads_bytes_(...)
#define _In_reads_opt_(...)
#define _In_reads_bytes_opt_(...)
#define _In_reads_z_(...)
#define _In_reads_or_z_(...)
#define _In_reads_to_ptr_(...)
#define _In_range_(...)
#define _In_defensive_(...)
#define _Out_writes_(...)
#define _Out_writes_bytes_(...)
#define _Out_writes_opt_(...)
#define _Out_writes_bytes_opt_(...)
#define _Out_writes_to_(...)
#define _Out_writes_bytes_to_(...)
#define _Out_writes_to_opt_(...)
#define _Out_writes_bytes_to_opt_(...)
#define _Out_writes_all_(...)
#define _Out_writes_bytes_all_(...)
#define _Out_writes_z_(...)
#define _Out_writes_to_ptr_(...)
#define _Out_range_(...)
#define _Out_defensive_(...)
#define _Out_z_cap_(...)
#define _Inout_updates_(...)
#define _Inout_updates_bytes_(...)
#define _Inout_updates_opt_(...)
#define _Inout_updates_bytes_opt_(...)
#define _Inout_updates_z_(...)
#define _Inout_updates_to_(...)
#define _Inout_updates_all_(...)
#define _Inout_defensive_(...)
#define _Outptr_result_buffer_(...)
#define _Outptr_result_bytebuffer_(...)
#define _Deref_out_range_(...)
#define _Ret_range_(...)
#define _Ret_writes_(...)
#define _Ret_writes_bytes_(...)
#define _Ret_writes_maybenull_(...)
#define _Ret_writes_bytes_maybenull_(...)
#define _Post_equal_to_(...)
#define _Post_readable_byte_size_(...)
#define _Post_readable_size_(...)
#define _Post_writable_size_(...)
#define _Post_writable_byte_size_(...)
#define _Post_satisfies_(...)
#define _Pre_satisfies_(...)
#define _Pre_writable_size_(...)
#define _Pre_writable_byte_size_(...)
#define _Pre_readable_size_(...)
#define _Pre_readable_byte_size_(...)
#define _Readable_bytes_(...)
#define _Writable_bytes_(...)
#define _Field_size_(...)
#define _Field_size_opt_(...)
#define _Field_size_bytes_(...)
#define _Field_size_bytes_opt_(...)
#define _Field_size_part_(...)
#define _Field_size_bytes_part_(...)
#define _Field_size_full_(...)
#define _Field_range_(...)
#define _Struct_size_bytes_(...)
#define _Success_(...)
#define _Return_type_success_(...)
#define _When_(...)
#define _At_(...)
#define _Always_(...)
#define _On_failure_(...)
#define _Satisfies_(...)
#define _Unchanged_(...)
#define _Old_(...)
#define _Param_(...)
#define _Inexpressible_(...)
#define _Analysis_assume_(...)
#define _Printf_format_string_params_(...)
#define _Translates_Win32_to_HRESULT_(...)
#define _Function_class_(...)
#define _Dispatch_type_(...)
#define _IRQL_requires_(...)
#define _IRQL_requires_max_(...)
#define _IRQL_requires_min_(...)
#define _IRQL_raises_(...)
#define _IRQL_saves_global_(...)
#define _IRQL_restores_global_(...)
#define _IRQL_always_function_max_(...)
#define _IRQL_always_function_min_(...)
#define _Acquires_lock_(...)
#define _Releases_lock_(...)
#define _Acquires_exclusive_lock_(...)
#define _Releases_exclusive_lock_(...)
#define _Acquires_shared_lock_(...)
#define _Releases_shared_lock_(...)
#define _Acquires_nonreentrant_lock_(...)
#define _Releases_nonreentrant_lock_(...)
#define _Requires_lock_held_(...)
#define _Requires_lock_not_held_(...)
#define _Requires_exclusive_lock_held_(...)
#define _Requires_shared_lock_held_(...)
#define _Guarded_by_(...)
#define _Write_guarded_by_(...)
#define _Has_lock_kind_(...)
#define _Has_lock_level_(...)
#define _Create_lock_level_(...)
#define _Lock_level_order_(...)
#define _Post_same_lock_(...)
#define _Kernel_requires_resource_not_held_(...)
#define _Kernel_acquires_resource_(...)
#define _Kernel_releases_resource_(...)
#define _Kernel_requires_resource_held_(...)
#define _Kernel_clear_do_init_(...)
#define __drv_clearDoInit(...)
#define __drv_allocatesMem(...)
#define __drv_freesMem(...)
#define __drv_maxIRQL(...)
#define __drv_minIRQL(...)
#define __drv_requiresIRQL(...)
#define __drv_setsIRQL(...)
#define __drv_raisesIRQL(...)
#define __drv_savesIRQLGlobal(...)
#define __drv_restoresIRQLGlobal(...)
#define __drv_acquiresResource(...)
#define __drv_releasesResource(...)
#define __drv_innerAcquiresGlobal(...)
#define __drv_innerReleasesGlobal(...)
#define __drv_acquiresExclResource(...)
#define __drv_releasesExclResource(...)
#define __drv_mustHold(...)
#define __drv_neverHold(...)
#define __drv_when(...)
#define __drv_arg(...)
#define __drv_at(...)
#define __drv_in(...)
#define __drv_out(...)
#define __drv_dispatchType(...)
#define __drv_functionClass(...)
#define __drv_reportError(...)
#define __drv_preferredFunction(...)
#define __drv_strictTypeMatch(...)
#define __drv_valueIs(...)
#define __drv_maxFunctionIRQL(...)
#define __drv_minFunctionIRQL(...)
#define __in_bcount(...)
#define __in_ecount(...)
#define __out_bcount(...)
#define __out_ecount(...)
#define __inout_bcount(...)
#define __inout_ecount(...)
#define __in_bcount_opt(...)
#define __in_ecount_opt(...)
#define __out_bcount_opt(...)
#define __out_ecount_opt(...)
#define __success(...)
#define __field_ecount(...)
#define __field_bcount(...)
#define __bcount(...)
#define __ecount(...)

/* ---- Integer and pointer types (LLP64: LONG and ULONG are 32 bits) --------------------- */
typedef void VOID, *PVOID, **PPVOID;
typedef const void *PCVOID;
typedef char CHAR, *PCHAR, *PSTR, *LPSTR, *PSZ;
typedef const char *PCSTR, *LPCSTR, *PCSZ;
typedef signed char CCHAR, SCHAR;
typedef unsigned char UCHAR, *PUCHAR, BYTE, *PBYTE;
typedef short SHORT, *PSHORT;
typedef unsigned short USHORT, *PUSHORT, WORD, CSHORT;
typedef uint16_t WCHAR, *PWCHAR, *PWSTR, *LPWSTR, *PWCH;
typedef const uint16_t *PCWSTR, *LPCWSTR, *PCWCH;
typedef int32_t LONG, *PLONG;
typedef uint32_t ULONG, *PULONG, DWORD, *PDWORD, ULONG32, *PULONG32, DWORD32;
typedef int32_t LONG32, *PLONG32;
typedef int INT, *PINT;
typedef unsigned int UINT, *PUINT;
typedef int64_t LONGLONG, *PLONGLONG, LONG64, *PLONG64, INT64, *PINT64;
typedef uint64_t ULONGLONG, *PULONGLONG, ULONG64, *PULONG64, DWORD64, *PDWORD64, UINT64, *PUINT64;
typedef int8_t INT8, *PINT8;
typedef uint8_t UINT8, *PUINT8;
typedef int16_t INT16, *PINT16;
typedef uint16_t UINT16, *PUINT16;
typedef int32_t INT32, *PINT32;
typedef uint32_t UINT32, *PUINT32;
typedef intptr_t LONG_PTR, *PLONG_PTR, INT_PTR, *PINT_PTR, SSIZE_T, *PSSIZE_T;
typedef uintptr_t ULONG_PTR, *PULONG_PTR, UINT_PTR, *PUINT_PTR, DWORD_PTR, *PDWORD_PTR;
typedef size_t SIZE_T, *PSIZE_T;
typedef UCHAR BOOLEAN, *PBOOLEAN;
typedef int BOOL;
typedef float FLOAT;
typedef double DOUBLE;
typedef PVOID HANDLE, *PHANDLE;
typedef LONG NTSTATUS, *PNTSTATUS;
typedef ULONG LOGICAL, *PLOGICAL;
typedef ULONG ACCESS_MASK, *PACCESS_MASK;
typedef ULONG_PTR KAFFINITY, *PKAFFINITY;
typedef CCHAR KPROCESSOR_MODE;
typedef LONG KPRIORITY;
typedef USHORT RTL_ATOMIC_STRING_LENGTH;

/* The kernel types the crate header (ndis_rwlock.h) declares its routines with. */
typedef UCHAR KIRQL, *PKIRQL;
typedef ULONG_PTR KSPIN_LOCK, *PKSPIN_LOCK;
typedef ULONG64 POOL_FLAGS;
typedef PVOID NDIS_HANDLE, *PNDIS_HANDLE;

typedef union _LARGE_INTEGER {
    struct {
        ULONG LowPart;
        LONG HighPart;
    };
    struct {
        ULONG LowPart;
        LONG HighPart;
    } u;
    LONGLONG QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

typedef union _ULARGE_INTEGER {
    struct {
        ULONG LowPart;
        ULONG HighPart;
    };
    struct {
        ULONG LowPart;
        ULONG HighPart;
    } u;
    ULONGLONG QuadPart;
} ULARGE_INTEGER, *PULARGE_INTEGER;

typedef LARGE_INTEGER PHYSICAL_ADDRESS, *PPHYSICAL_ADDRESS;

typedef struct _UNICODE_STRING {
    USHORT Length;
    USHORT MaximumLength;
    PWSTR Buffer;
} UNICODE_STRING, *PUNICODE_STRING;
typedef const UNICODE_STRING *PCUNICODE_STRING;

typedef struct _STRING {
    USHORT Length;
    USHORT MaximumLength;
    PCHAR Buffer;
} STRING, *PSTRING, ANSI_STRING, *PANSI_STRING;

/* ---- Doubly and singly linked lists (routines in wdm.h) -------------------------------- */
typedef struct _LIST_ENTRY {
    struct _LIST_ENTRY *Flink;
    struct _LIST_ENTRY *Blink;
} LIST_ENTRY, *PLIST_ENTRY, *RESTRICTED_POINTER PRLIST_ENTRY;

typedef struct _SINGLE_LIST_ENTRY {
    struct _SINGLE_LIST_ENTRY *Next;
} SINGLE_LIST_ENTRY, *PSINGLE_LIST_ENTRY;

/* ---- Objects ---------------------------------------------------------------------------- */
typedef struct _OBJECT_ATTRIBUTES {
    ULONG Length;
    HANDLE RootDirectory;
    PUNICODE_STRING ObjectName;
    ULONG Attributes;
    PVOID SecurityDescriptor;
    PVOID SecurityQualityOfService;
} OBJECT_ATTRIBUTES, *POBJECT_ATTRIBUTES;

#define OBJ_INHERIT 0x00000002L
#define OBJ_PERMANENT 0x00000010L
#define OBJ_EXCLUSIVE 0x00000020L
#define OBJ_CASE_INSENSITIVE 0x00000040L
#define OBJ_OPENIF 0x00000080L
#define OBJ_KERNEL_HANDLE 0x00000200L

#define InitializeObjectAttributes(p, n, a, r, s)                                          \
    do {                                                                                   \
        (p)->Length = sizeof(OBJECT_ATTRIBUTES);                                           \
        (p)->RootDirectory = (r);                                                          \
        (p)->Attributes = (a);                                                             \
        (p)->ObjectName = (n);                                                             \
        (p)->SecurityDescriptor = (s);                                                     \
        (p)->SecurityQualityOfService = NULL;                                              \
    } while (0)

typedef struct _CLIENT_ID {
    HANDLE UniqueProcess;
    HANDLE UniqueThread;
} CLIENT_ID, *PCLIENT_ID;

typedef enum _EVENT_TYPE { NotificationEvent, SynchronizationEvent } EVENT_TYPE;
typedef enum _MODE { KernelMode, UserMode, MaximumMode } MODE;

/* ---- Constants and macros --------------------------------------------------------------- */
#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif
#ifndef NULL
#define NULL ((void *)0)
#endif

#define MAXCHAR 0x7f
#define MINCHAR 0x80
#define MAXUCHAR 0xff
#define MAXSHORT 0x7fff
#define MAXUSHORT 0xffff
#define MAXLONG 0x7fffffff
#define MINLONG ((LONG)0x80000000)
#define MAXULONG 0xffffffffu
#define MAXLONGLONG 0x7fffffffffffffffLL
#define MAXULONGLONG 0xffffffffffffffffULL
#define MAXULONG_PTR UINTPTR_MAX
#define MAXLONG_PTR INTPTR_MAX

#define FIELD_OFFSET(type, field) ((LONG)offsetof(type, field))
#define RTL_FIELD_SIZE(type, field) (sizeof(((type *)0)->field))
#define RTL_SIZEOF_THROUGH_FIELD(type, field) (FIELD_OFFSET(type, field) + RTL_FIELD_SIZE(type, field))
#define RTL_NUMBER_OF(a) (sizeof(a) / sizeof((a)[0]))
#define ARRAYSIZE(a) RTL_NUMBER_OF(a)
#define ALIGN_DOWN_BY(length, alignment) ((ULONG_PTR)(length) & ~((ULONG_PTR)(alignment) - 1))
#define ALIGN_UP_BY(length, alignment) (ALIGN_DOWN_BY(((ULONG_PTR)(length) + (alignment) - 1), alignment))
#define ALIGN_DOWN_POINTER_BY(p, alignment) ((PVOID)ALIGN_DOWN_BY(p, alignment))
#define ALIGN_UP_POINTER_BY(p, alignment) ((PVOID)ALIGN_UP_BY(p, alignment))
#define CONTAINING_RECORD(address, type, field)                                            \
    ((type *)((PCHAR)(address) - (ULONG_PTR)offsetof(type, field)))
#define UNREFERENCED_PARAMETER(P) ((void)(P))
#define DBG_UNREFERENCED_PARAMETER(P) ((void)(P))
#define DBG_UNREFERENCED_LOCAL_VARIABLE(V) ((void)(V))
#define UNREFERENCED_LOCAL_VARIABLE(V) ((void)(V))
#define MAKELONG(low, high) ((LONG)(((USHORT)(low)) | ((ULONG)((USHORT)(high))) << 16))

#ifdef __cplusplus
#define C_ASSERT(e) static_assert(e, #e)
#else
#define C_ASSERT(e) _Static_assert(e, #e)
#endif

#define NT_SUCCESS(Status) (((NTSTATUS)(Status)) >= 0)
#define NT_INFORMATION(Status) ((((ULONG)(Status)) >> 30) == 1)
#define NT_WARNING(Status) ((((ULONG)(Status)) >> 30) == 2)
#define NT_ERROR(Status) ((((ULONG)(Status)) >> 30) == 3)

/* ---- NTSTATUS codes -------------------------------------------------------------------- */
#define STATUS_SUCCESS ((NTSTATUS)0x00000000L)
#define STATUS_WAIT_0 ((NTSTATUS)0x00000000L)
#define STATUS_ALERTED ((NTSTATUS)0x00000101L)
#define STATUS_TIMEOUT ((NTSTATUS)0x00000102L)
#define STATUS_PENDING ((NTSTATUS)0x00000103L)
#define STATUS_USER_APC ((NTSTATUS)0x000000C0L)
#define STATUS_NOT_ACCEPTED ((NTSTATUS)0x00010001L)
#define STATUS_BUFFER_OVERFLOW ((NTSTATUS)0x80000005L)
#define STATUS_NO_MORE_ENTRIES ((NTSTATUS)0x8000001AL)
#define STATUS_UNSUCCESSFUL ((NTSTATUS)0xC0000001L)
#define STATUS_NOT_IMPLEMENTED ((NTSTATUS)0xC0000002L)
#define STATUS_INVALID_HANDLE ((NTSTATUS)0xC0000008L)
#define STATUS_INVALID_PARAMETER ((NTSTATUS)0xC000000DL)
#define STATUS_INVALID_DEVICE_REQUEST ((NTSTATUS)0xC0000010L)
#define STATUS_NO_MEMORY ((NTSTATUS)0xC0000017L)
#define STATUS_ACCESS_DENIED ((NTSTATUS)0xC0000022L)
#define STATUS_BUFFER_TOO_SMALL ((NTSTATUS)0xC0000023L)
#define STATUS_OBJECT_TYPE_MISMATCH ((NTSTATUS)0xC0000024L)
#define STATUS_OBJECT_NAME_NOT_FOUND ((NTSTATUS)0xC0000034L)
#define STATUS_INSUFFICIENT_RESOURCES ((NTSTATUS)0xC000009AL)
#define STATUS_DEVICE_NOT_READY ((NTSTATUS)0xC00000A3L)
#define STATUS_NOT_SUPPORTED ((NTSTATUS)0xC00000BBL)
#define STATUS_CANCELLED ((NTSTATUS)0xC0000120L)
#define STATUS_INVALID_BUFFER_SIZE ((NTSTATUS)0xC0000206L)
#define STATUS_NOT_FOUND ((NTSTATUS)0xC0000225L)
#define STATUS_REQUEST_ABORTED ((NTSTATUS)0xC0000240L)
#define STATUS_ASSERTION_FAILURE ((NTSTATUS)0xC0000420L)

#endif /* _NTDEF_ */
