# Stand-in for what WdfDriverEntry.lib (WDK) and wdk-sys's compiled wdf.c give a KMDF driver
# image, for the Linux link check of the Windows build (scripts/windows-check.sh).
#
# The real FxDriverEntry (the image entry point, /ENTRY:FxDriverEntry) binds to the KMDF
# runtime through WdfLdr.sys, fills WdfFunctions_01033 and WdfDriverGlobals, then calls the
# driver's DriverEntry. Here it only jumps to DriverEntry: that keeps DriverEntry and
# everything it reaches linked into the image, as the real library does. The check never runs
# it: the emulator calls the exports, and Wine loads the image as an export driver, for the
# imports of a test driver. The three variables are those the WDF headers declare and wdk-sys
# reads.
        .text
        .globl  FxDriverEntry
        .p2align 4
FxDriverEntry:
        jmp     DriverEntry

        .data
        .p2align 3
        .globl  WdfFunctions_01033
WdfFunctions_01033:
        .quad   0
        .globl  WdfDriverGlobals
WdfDriverGlobals:
        .quad   0
        .globl  WdfFunctionCount
WdfFunctionCount:
        .long   0
